"""People (employees, visitors, externals) and their groups: departments, cost centres, customer projects."""
