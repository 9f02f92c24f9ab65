"""Server-rendered web UI (zh-CN first): login, dashboard, organisations, members."""
