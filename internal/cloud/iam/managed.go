package iam

import "strings"

// ManagedPolicy is an AWS-managed policy a user can be attached to, with the document AWS publishes for it.
type ManagedPolicy struct {
	Name     string
	Document string
}

// ARN is the policy's ARN, arn:aws:iam::aws:policy/NAME.
func (p ManagedPolicy) ARN() string { return managedPrefix + p.Name }

const managedPrefix = "arn:aws:iam::aws:policy/"

// managedPolicies are the AWS-managed policies Berth knows, with AWS's current default versions.
var managedPolicies = []ManagedPolicy{
	{Name: "AdministratorAccess", Document: `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*"
        }
    ]
}`},
	{Name: "AmazonS3FullAccess", Document: `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "s3:*",
                "s3-object-lambda:*"
            ],
            "Resource": "*"
        }
    ]
}`},
	{Name: "AmazonS3ReadOnlyAccess", Document: `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "s3:Get*",
                "s3:List*",
                "s3:Describe*",
                "s3-object-lambda:Get*",
                "s3-object-lambda:List*"
            ],
            "Resource": "*"
        }
    ]
}`},
	{Name: "IAMFullAccess", Document: `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "iam:*",
                "organizations:DescribeAccount",
                "organizations:DescribeOrganization",
                "organizations:DescribeOrganizationalUnit",
                "organizations:DescribePolicy",
                "organizations:ListChildren",
                "organizations:ListParents",
                "organizations:ListPoliciesForTarget",
                "organizations:ListRoots",
                "organizations:ListPolicies",
                "organizations:ListTargetsForPolicy"
            ],
            "Resource": "*"
        }
    ]
}`},
	{Name: "IAMReadOnlyAccess", Document: `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "iam:GenerateCredentialReport",
                "iam:GenerateServiceLastAccessedDetails",
                "iam:Get*",
                "iam:List*",
                "iam:SimulateCustomPolicy",
                "iam:SimulatePrincipalPolicy"
            ],
            "Resource": "*"
        }
    ]
}`},
}

// Managed returns the AWS-managed policy named by arn or by its bare name.
func Managed(arnOrName string) (ManagedPolicy, bool) {
	name := strings.TrimPrefix(arnOrName, managedPrefix)
	for _, p := range managedPolicies {
		if p.Name == name {
			return p, true
		}
	}
	return ManagedPolicy{}, false
}

// ManagedPolicies lists the AWS-managed policies Berth knows.
func ManagedPolicies() []ManagedPolicy { return append([]ManagedPolicy(nil), managedPolicies...) }
