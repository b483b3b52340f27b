-- demo.sql: sample embeddings and example queries for `make demo`.
CREATE EXTENSION rsr_vector;
