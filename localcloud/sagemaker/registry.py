"""(being written)"""
OPERATIONS: dict = {}
