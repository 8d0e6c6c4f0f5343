package policy

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// The error codes a rejected document is reported with: S3's for bucket policies, IAM's for identity policies.
const (
	CodeMalformedPolicy         = "MalformedPolicy"
	CodeMalformedPolicyDocument = "MalformedPolicyDocument"
)

// Messages S3 answers PutBucketPolicy with, word for word, for the checks a caller may also make itself (for
// example that every principal names an existing account or user).
const (
	MsgInvalidPrincipal = "Invalid principal in policy"
	MsgInvalidResource  = "Policy has invalid resource"
	MsgInvalidAction    = "Policy has invalid action"
	MsgActionMismatch   = "Action does not apply to any resource(s) in statement"
)

// MalformedError is a document AWS would refuse: Code is "MalformedPolicy" (S3) or "MalformedPolicyDocument"
// (IAM) and Message is the text AWS sends with it. Both are meant to reach the client unchanged, with HTTP 400.
// It wraps errdefs.ErrInvalidArgument, so errors.Is(err, errdefs.ErrInvalidArgument) holds.
type MalformedError struct {
	Code    string
	Message string
}

func (e *MalformedError) Error() string { return e.Code + ": " + e.Message }

// Unwrap makes a MalformedError an invalid-argument error for callers that test categories.
func (e *MalformedError) Unwrap() error { return errdefs.ErrInvalidArgument }

// Malformed returns the rejection of a document of the given kind with message, in that kind's error code. A
// caller uses it for checks this package cannot make, such as MsgInvalidPrincipal for an account that does not
// exist.
func Malformed(kind Kind, message string) *MalformedError {
	if kind == Identity {
		return &MalformedError{Code: CodeMalformedPolicyDocument, Message: message}
	}
	return &MalformedError{Code: CodeMalformedPolicy, Message: message}
}

// problem names one way a document can be wrong; words gives it the text of the service the kind belongs to.
type problem int

const (
	probFirstByte problem = iota
	probSyntax
	probMissingStatement
	probEmptyStatement
	probVersion
	probUnknownField
	probMissingField
	probEffect
	probEffectCase
	probSid
	probDuplicateSid
	probNoActions
	probNoResources
	probActionFormat
	probActionColons
	probActionVendor
	probResourceFormat
	probPrincipal
	probPrincipalInIdentity
	probBothElements
	probConditionOperator
	probConditionKey
	probConditionValue
)

// fail builds the MalformedError for p in the words of kind's service. arg is the field, value or operator the
// message names, where it names one.
func fail(kind Kind, p problem, arg string) *MalformedError {
	if kind == Identity {
		return Malformed(kind, iamWords(p, arg))
	}
	return Malformed(kind, s3Words(p, arg))
}

// s3Words is S3's PutBucketPolicy text. The messages for the first byte, invalid JSON, a missing or empty
// Statement, a missing Principal, the version, Effect, principals, actions and resources are S3's own; the others
// follow S3's "Missing required field X" pattern, IAM's wording, or (conditions, Action with NotAction) are
// Berth's, where S3's text is not known.
func s3Words(p problem, arg string) string {
	switch p {
	case probFirstByte:
		return "Policies must be valid JSON and the first byte must be '{'"
	case probSyntax:
		return "This policy contains invalid Json"
	case probMissingStatement:
		return "Missing required field Statement"
	case probEmptyStatement:
		return "Could not parse the policy: Statement is empty!"
	case probVersion:
		return "The policy must contain a valid version string"
	case probUnknownField:
		return "Unknown field " + arg
	case probMissingField:
		return "Missing required field " + arg
	case probEffect, probEffectCase:
		return "Invalid effect: " + arg
	case probDuplicateSid:
		return "Statement IDs (SID) in a single policy must be unique."
	case probNoActions, probActionFormat, probActionColons, probActionVendor:
		return MsgInvalidAction
	case probNoResources, probResourceFormat:
		return MsgInvalidResource
	case probPrincipal:
		return MsgInvalidPrincipal
	case probBothElements:
		return fmt.Sprintf("Statement cannot contain both %s and Not%s", arg, arg)
	case probConditionOperator:
		return "Policy has an invalid condition operator: " + arg
	case probConditionKey:
		return "Policy has an invalid condition key"
	case probConditionValue:
		return "Policy has an invalid condition value: " + arg
	}
	return "This policy contains invalid Json"
}

// iamWords is IAM's MalformedPolicyDocument text (CreatePolicy, PutUserPolicy …).
func iamWords(p problem, arg string) string {
	switch p {
	case probFirstByte, probSyntax, probMissingStatement, probEmptyStatement, probVersion, probUnknownField,
		probMissingField, probEffect, probBothElements, probConditionOperator:
		return "Syntax errors in policy."
	case probEffectCase, probConditionValue:
		return "The policy failed legacy parsing"
	case probSid:
		return "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
	case probDuplicateSid:
		return "Statement IDs (SID) in a single policy must be unique."
	case probNoActions:
		return "Policy statement must contain actions."
	case probNoResources:
		return "Policy statement must contain resources."
	case probActionFormat, probConditionKey:
		return "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
	case probActionColons:
		return "Actions/Condition can contain only one colon."
	case probActionVendor:
		return "Vendor " + arg + " is not valid"
	case probResourceFormat:
		return "Resource " + arg + " must be in ARN format or \"*\"."
	case probPrincipal, probPrincipalInIdentity:
		return "Policy document should not specify a principal."
	}
	return "Syntax errors in policy."
}
