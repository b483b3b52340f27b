-- rsr_vector 0.1.0 install script
\echo Use "CREATE EXTENSION rsr_vector" to load this file. \quit

-- ==== tvec type ====

-- ==== operators, scoring and quantizers ====

-- ==== rsr index access method ====

-- ==== bulk scoring and introspection ====

-- ==== GPU ====
