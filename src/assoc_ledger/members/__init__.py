"""People (人员), members (会员), roles (职务), volunteers (志愿者) and member groups (会员小组)."""
