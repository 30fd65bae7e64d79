-- The admin units directly below a unit, in code order.
SELECT code, name FROM admin_unit WHERE parent_code = %(parent)s ORDER BY code
