"""帮扶救助: relief schemes (versioned data) and cases (登记 → 审核 → 审批 → 发放 → 结案)."""
