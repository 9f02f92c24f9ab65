"""Reports over the fund books' database index, and the audited annual fund statements (年度公益金收支报告)."""
