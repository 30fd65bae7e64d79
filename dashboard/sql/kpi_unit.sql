-- One admin unit by code, or the city when no code is given.
SELECT code, level, name FROM admin_unit
WHERE (%(code)s::text IS NULL AND level = 'city') OR code = %(code)s
ORDER BY code LIMIT 1
