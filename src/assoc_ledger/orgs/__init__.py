"""Organisations (组织): the association tree from county to village, enterprise and migrant chapters."""
