-- amvalidate() of the rsr operator classes, and of broken ones
SELECT opcname, amvalidate(oid) FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'rsr') ORDER BY 1;

-- Rejected when defined: rsr has one strategy and no support function
CREATE OPERATOR CLASS bit_ip_search_ops FOR TYPE bit USING rsr AS
	OPERATOR 1 <#> (bit, real[]);
CREATE OPERATOR CLASS bit_ip_strategy_ops FOR TYPE bit USING rsr AS
	OPERATOR 2 <#> (bit, real[]) FOR ORDER BY float_ops;
CREATE OPERATOR CLASS bit_ip_proc_ops FOR TYPE bit USING rsr AS
	OPERATOR 1 <#> (bit, real[]) FOR ORDER BY float_ops,
	FUNCTION 1 inner_product(bit, real[]);

-- Accepted when defined, rejected by amvalidate()
CREATE OPERATOR CLASS bit_eq_ops FOR TYPE bit USING rsr AS
	OPERATOR 1 = (bit, bit) FOR ORDER BY float_ops;
CREATE OPERATOR CLASS bit_ip_intsort_ops FOR TYPE bit USING rsr AS
	OPERATOR 1 <#> (bit, real[]) FOR ORDER BY integer_ops;
CREATE OPERATOR CLASS tvec_bit_ops FOR TYPE tvec USING rsr AS
	OPERATOR 1 <#> (bit, real[]) FOR ORDER BY float_ops;
CREATE OPERATOR CLASS bit_empty_ops FOR TYPE bit USING rsr AS
	STORAGE bit;
SELECT opcname, amvalidate(oid) FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'rsr') ORDER BY 1;
DROP OPERATOR FAMILY bit_eq_ops USING rsr;
DROP OPERATOR FAMILY bit_ip_intsort_ops USING rsr;
DROP OPERATOR FAMILY tvec_bit_ops USING rsr;
DROP OPERATOR FAMILY bit_empty_ops USING rsr;
