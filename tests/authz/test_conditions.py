"""Every condition operator family, the missing-key rules, set operators, variables and case rules."""

import pytest

from kmstui.authz.conditions import ConditionError, compile_block, parse_operator

from .helpers import ACCT, SESSION, USER, cond


class TestStrings:
    def test_equals_is_case_sensitive(self):
        assert cond({"StringEquals": {"aws:username": "bob"}})
        assert not cond({"StringEquals": {"aws:username": "Bob"}})

    def test_ignore_case_compares_the_request_value_case_insensitively(self):
        assert cond({"StringEqualsIgnoreCase": {"aws:username": "BOB"}})
        assert not cond({"StringNotEqualsIgnoreCase": {"aws:username": "BoB"}})

    def test_like_wildcards(self):
        assert cond({"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
                    context={"kms:ViaService": "s3.eu-west-1.amazonaws.com"})
        assert cond({"StringLike": {"aws:username": "b?b"}})
        assert not cond({"StringLike": {"aws:username": "b?"}})
        assert not cond({"StringLike": {"aws:username": "B*"}})

    def test_several_values_are_ored_and_negation_is_nor(self):
        assert cond({"StringEquals": {"aws:username": ["alice", "bob"]}})
        assert not cond({"StringNotEquals": {"aws:username": ["alice", "bob"]}})
        assert cond({"StringNotEquals": {"aws:username": ["alice", "carol"]}})

    def test_keys_and_operators_are_anded(self):
        ctx = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
        assert cond({"StringEquals": {"aws:username": "bob", "kms:ViaService": "s3.us-east-1.amazonaws.com"}}, context=ctx)
        assert not cond({"StringEquals": {"aws:username": "bob"}, "StringLike": {"kms:ViaService": "ec2.*"}}, context=ctx)

    def test_condition_key_names_are_case_insensitive(self):
        assert cond({"StringEquals": {"KMS:CallerAccount": ACCT}})
        assert cond({"StringEquals": {"kms:viaservice": "x"}}, context={"KMS:ViaService": "x"})


class TestMissingKeys:
    @pytest.mark.parametrize("op", ["StringEquals", "StringLike", "ArnLike", "IpAddress", "NumericEquals",
                                    "DateEquals", "Bool", "StringEqualsIgnoreCase", "ArnEquals"])
    def test_positive_operator_on_absent_key_is_false(self, op):
        value = {"IpAddress": "10.0.0.0/8", "NumericEquals": "1", "DateEquals": "2020-01-01T00:00:00Z",
                 "Bool": "true"}.get(op, "x")
        assert not cond({op: {"aws:SourceIp" if op == "IpAddress" else "kms:Missing": value}})

    @pytest.mark.parametrize("op", ["StringNotEquals", "StringNotLike", "ArnNotLike", "ArnNotEquals",
                                    "NotIpAddress", "NumericNotEquals", "DateNotEquals", "StringNotEqualsIgnoreCase"])
    def test_negated_operator_on_absent_key_is_true(self, op):
        value = {"NotIpAddress": "10.0.0.0/8", "NumericNotEquals": "1", "DateNotEquals": "2020-01-01"}.get(op, "x")
        assert cond({op: {"kms:Missing": value}})

    def test_if_exists_makes_an_absent_key_true_for_positive_and_negated(self):
        assert cond({"StringEqualsIfExists": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}})
        assert cond({"StringNotEqualsIfExists": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}})

    def test_if_exists_still_checks_a_present_key(self):
        ctx = {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}
        assert not cond({"StringEqualsIfExists": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}, context=ctx)

    def test_null(self):
        assert cond({"Null": {"kms:EncryptionContextKeys": "true"}})
        assert not cond({"Null": {"kms:EncryptionContextKeys": "false"}})
        assert cond({"Null": {"kms:EncryptionContextKeys": False}}, ec={"a": "1"})
        assert not cond({"Null": {"kms:EncryptionContextKeys": "true"}}, ec={"a": "1"})

    def test_null_with_if_exists_is_rejected(self):
        with pytest.raises(ConditionError):
            parse_operator("NullIfExists")


class TestSetOperators:
    def test_for_any_value_absent_or_empty_is_false(self):
        assert not cond({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "a"}})
        assert not cond({"ForAnyValue:StringEquals": {"kms:GrantOperations": "Decrypt"}}, context={"kms:GrantOperations": []})

    def test_for_any_value_if_exists_on_absent_key_is_still_false(self):
        assert not cond({"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "team"}})

    def test_for_all_values_absent_or_empty_is_true(self):
        assert cond({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "a"}})
        assert cond({"ForAllValues:StringEquals": {"aws:TagKeys": "a"}}, context={"aws:TagKeys": []})

    def test_for_any_and_for_all_with_values(self):
        ec = {"a": "1", "b": "2"}
        assert cond({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["b", "z"]}}, ec=ec)
        assert not cond({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["b", "z"]}}, ec=ec)
        assert cond({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["a", "b", "z"]}}, ec=ec)

    def test_negated_operator_inside_set_operators_applies_per_value(self):
        ec = {"a": "1", "b": "2"}
        assert cond({"ForAllValues:StringNotLike": {"kms:EncryptionContextKeys": "x*"}}, ec=ec)
        assert not cond({"ForAllValues:StringNotLike": {"kms:EncryptionContextKeys": "a"}}, ec=ec)
        assert cond({"ForAnyValue:StringNotLike": {"kms:EncryptionContextKeys": "a"}}, ec=ec)
        assert cond({"ForAllValues:StringNotLike": {"kms:EncryptionContextKeys": "a"}})  # absent

    def test_grant_operations_are_multivalued(self):
        ctx = {"kms:GrantOperations": ["Decrypt", "Encrypt"]}
        assert cond({"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt", "DescribeKey"]}},
                    context=ctx)
        assert not cond({"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]}}, context=ctx)

    def test_for_all_values_with_single_valued_encryption_context_key_is_rejected(self):
        _conds, errors = compile_block({"ForAllValues:StringEquals": {"kms:EncryptionContext:app": "x"}}, True)
        assert errors and "single-valued" in errors[0][1]


class TestOtherFamilies:
    def test_numeric_json_numbers_and_strings(self):
        ctx = {"aws:MultiFactorAuthAge": "300"}
        assert cond({"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}, context=ctx)
        assert cond({"NumericLessThanEquals": {"aws:MultiFactorAuthAge": "300"}}, context=ctx)
        assert not cond({"NumericGreaterThan": {"aws:MultiFactorAuthAge": "300"}}, context=ctx)
        assert cond({"NumericGreaterThanEquals": {"aws:MultiFactorAuthAge": 300.0}}, context=ctx)
        assert cond({"NumericNotEquals": {"aws:MultiFactorAuthAge": [1, 2]}}, context=ctx)
        assert not cond({"NumericEquals": {"aws:MultiFactorAuthAge": 300}}, context={"aws:MultiFactorAuthAge": "abc"})

    def test_numeric_rejects_non_numbers(self):
        _c, errors = compile_block({"NumericLessThan": {"k": "ten"}}, True)
        assert errors

    def test_dates_compare_as_instants(self):
        ctx = {"aws:CurrentTime": "2024-06-01T12:00:00Z"}
        assert cond({"DateGreaterThan": {"aws:CurrentTime": "2024-06-01T11:59:59+00:00"}}, context=ctx)
        assert cond({"DateLessThan": {"aws:CurrentTime": "2024-06-01T13:00:00+01:00"}}, context=ctx) is False
        assert cond({"DateEquals": {"aws:CurrentTime": "2024-06-01T14:00:00+02:00"}}, context=ctx)
        assert cond({"DateGreaterThanEquals": {"aws:CurrentTime": 1717243200}}, context=ctx)
        assert cond({"DateLessThanEquals": {"aws:EpochTime": "2024-06-01T12:00:00Z"}}, context={"aws:EpochTime": "1717243200"})

    def test_current_time_is_derived(self):
        assert cond({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})

    def test_bool_accepts_json_booleans_and_strings(self):
        assert cond({"Bool": {"aws:SecureTransport": True}})
        assert cond({"Bool": {"aws:SecureTransport": "TRUE"}})
        assert not cond({"Bool": {"aws:SecureTransport": "false"}})
        assert cond({"Bool": {"kms:GrantIsForAWSResource": "true"}}, context={"kms:GrantIsForAWSResource": True})

    def test_ip_address_cidr_v4_v6_and_bare_addresses(self):
        assert cond({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}, context={"aws:SourceIp": "10.1.2.3"})
        assert cond({"IpAddress": {"aws:SourceIp": "192.0.2.7"}}, context={"aws:SourceIp": "192.0.2.7"})
        assert not cond({"IpAddress": {"aws:SourceIp": "192.0.2.7"}}, context={"aws:SourceIp": "192.0.2.8"})
        assert cond({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, context={"aws:SourceIp": "2001:db8::1"})
        assert not cond({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, context={"aws:SourceIp": "10.0.0.1"})
        assert cond({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, context={"aws:SourceIp": "11.0.0.1"})

    def test_arn_operators_match_per_component(self):
        ctx = {"aws:SourceArn": "arn:aws:s3:::bucket/key:with:colons"}
        assert cond({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bucket/*"}}, context=ctx)
        assert cond({"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::bucket/*"}}, context=ctx)
        # a * does not cross the colons between components
        assert not cond({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*"}}, principal=USER)
        assert cond({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}, principal=USER)
        assert not cond({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/BOB"}}, principal=USER)
        assert cond({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}, principal=USER)

    def test_binary_equals_compares_base64(self):
        assert cond({"BinaryEquals": {"k": "aGVsbG8="}}, context={"k": "aGVsbG8="})
        assert not cond({"BinaryEquals": {"k": "aGVsbG8="}}, context={"k": "aGVsbG9v"})

    def test_unknown_operator_is_an_error(self):
        _c, errors = compile_block({"StringEqualz": {"k": "v"}}, True)
        assert errors and "unknown condition operator" in errors[0][1]


class TestVariables:
    def test_username_variable(self):
        assert cond({"StringEquals": {"kms:EncryptionContext:owner": "${aws:username}"}}, ec={"owner": "bob"})
        assert not cond({"StringEquals": {"kms:EncryptionContext:owner": "${aws:username}"}}, ec={"owner": "eve"})

    def test_variables_are_literal_without_version_2012(self):
        assert not cond({"StringEquals": {"kms:EncryptionContext:owner": "${aws:username}"}}, ec={"owner": "bob"},
                        variables=False)
        assert cond({"StringEquals": {"kms:EncryptionContext:owner": "${aws:username}"}},
                    ec={"owner": "${aws:username}"}, variables=False)

    def test_missing_variable_never_matches_and_default_applies(self):
        assert not cond({"StringEquals": {"kms:EncryptionContext:t": "${aws:PrincipalTag/team}"}}, ec={"t": ""})
        assert cond({"StringEquals": {"kms:EncryptionContext:t": "${aws:PrincipalTag/team, 'none'}"}}, ec={"t": "none"})

    def test_like_pattern_with_variable_keeps_substituted_text_literal(self):
        block = {"StringLike": {"kms:EncryptionContext:path": "home/${aws:username}/*"}}
        assert cond(block, ec={"path": "home/bob/notes"})
        assert not cond(block, ec={"path": "home/bobby/notes"})
        assert cond({"StringLike": {"kms:EncryptionContext:p": "a${*}b"}}, ec={"p": "a*b"})
        assert not cond({"StringLike": {"kms:EncryptionContext:p": "a${*}b"}}, ec={"p": "axxb"})

    def test_username_is_absent_for_role_sessions(self):
        assert not cond({"StringEquals": {"kms:EncryptionContext:o": "${aws:username}"}}, ec={"o": "s1"},
                        principal=SESSION)


class TestEncryptionContextKeys:
    def test_context_key_part_is_case_insensitive_value_is_not(self):
        assert cond({"StringEquals": {"kms:EncryptionContext:Purpose": "backup"}}, ec={"purpose": "backup"})
        assert not cond({"StringEquals": {"kms:EncryptionContext:purpose": "backup"}}, ec={"purpose": "Backup"})

    def test_encryption_context_keys_lists_keys_with_their_case(self):
        assert not cond({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "Purpose"}}, ec={"purpose": "x"})
