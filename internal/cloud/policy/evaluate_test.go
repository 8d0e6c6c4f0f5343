package policy

import (
	"testing"
)

// Principals the tests ask as.
var (
	anonymous = Principal{Anonymous: true}
	johnDoe   = Principal{AccountID: "111122223333", ARN: "arn:aws:iam::111122223333:user/JohnDoe",
		CanonicalID: "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}
	jane      = Principal{AccountID: "111122223333", ARN: "arn:aws:iam::111122223333:user/Jane"}
	ownerRoot = Principal{AccountID: "111122223333", ARN: "arn:aws:iam::111122223333:root"}
	bob       = Principal{AccountID: "444455556666", ARN: "arn:aws:iam::444455556666:user/Bob"}
	bobRoot   = Principal{AccountID: "444455556666", ARN: "arn:aws:iam::444455556666:root"}
	mallory   = Principal{AccountID: "999999999999", ARN: "arn:aws:iam::999999999999:user/Mallory"}
	logging   = Principal{Service: "logging.s3.amazonaws.com"}
)

func ctx(kv ...string) map[string][]string {
	m := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = append(m[kv[i]], kv[i+1])
	}
	return m
}

func mustParse(t testing.TB, doc string, kind Kind) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc), kind)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return p
}

// Documents from the S3 User Guide, "Bucket policy examples" (example-bucket-policies.html).
const (
	docRequireSSEKMS = `{
"Version": "2012-10-17",
"Id": "PutObjPolicy",
"Statement": [{
  "Sid": "DenyObjectsThatAreNotSSEKMS",
  "Principal": "*",
  "Effect": "Deny",
  "Action": "s3:PutObject",
  "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*",
  "Condition": {
    "Null": {
      "s3:x-amz-server-side-encryption-aws-kms-key-id": "true"
    }
  }
}]
}`
	docRequireKMSKey = `{
"Version": "2012-10-17",
"Id": "PutObjPolicy",
"Statement": [{
  "Sid": "DenyObjectsThatAreNotSSEKMSWithSpecificKey",
  "Principal": "*",
  "Effect": "Deny",
  "Action": "s3:PutObject",
  "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*",
  "Condition": {
    "ArnNotEqualsIfExists": {
      "s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-2:111122223333:key/01234567-89ab-cdef-0123-456789abcdef"
    }
  }
}]
}`
	docPublicReadCannedACL = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AddPublicReadCannedAcl",
            "Effect": "Allow",
            "Principal": {
                "AWS": [
                    "arn:aws:iam::111122223333:root",
                    "arn:aws:iam::444455556666:root"
                ]
            },
            "Action": [
                "s3:PutObject",
                "s3:PutObjectAcl"
            ],
            "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*",
            "Condition": {
                "StringEquals": {
                    "s3:x-amz-acl": [
                        "public-read"
                    ]
                }
            }
        }
    ]
}`
	docExistingObjectTag = `{
   "Version":"2012-10-17",
   "Statement":[
      {
         "Principal":{
            "AWS":"arn:aws:iam::111122223333:user/JohnDoe"
         },
         "Effect":"Allow",
         "Action":[
            "s3:GetObject",
            "s3:GetObjectVersion"
         ],
         "Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*",
         "Condition":{
            "StringEquals":{
               "s3:ExistingObjectTag/environment":"production"
            }
         }
      }
   ]
}`
	docRequestObjectTagKeys = `{
   "Version": "2012-10-17",
  "Statement": [
    {"Principal":{"AWS":[
            "arn:aws:iam::111122223333:user/JohnDoe"
         ]
       },
 "Effect": "Allow",
      "Action": [
        "s3:PutObjectTagging"
      ],
      "Resource": [
        "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"
      ],
      "Condition": {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": [
            "Owner",
            "CreationDate"
          ]
        }
      }
    }
  ]
}`
	docServerAccessLogs = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowPutObjectS3ServerAccessLogsPolicy",
            "Principal": {
                "Service": "logging.s3.amazonaws.com"
            },
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET-logs/*",
            "Condition": {
                "StringEquals": {
                    "aws:SourceAccount": "111111111111"
                },
                "ArnLike": {
                    "aws:SourceArn": "arn:aws:s3:::EXAMPLE-SOURCE-BUCKET"
                }
            }
        },
        {
            "Sid": "RestrictToS3ServerAccessLogs",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET-logs/*",
            "Condition": {
                "ForAllValues:StringNotEquals": {
                    "aws:PrincipalServiceNamesList": "logging.s3.amazonaws.com"
                }
            }
        }
    ]
}`
	docOrgOnly = `{
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "AllowGetObject",
        "Principal": {
            "AWS": "*"
        },
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*",
        "Condition": {
            "StringEquals": {
                "aws:PrincipalOrgID": ["o-aa111bb222"]
            }
        }
    }]
}`
	docDenyOutsideIP = `{
    "Version": "2012-10-17",
    "Id": "S3PolicyId1",
    "Statement": [
        {
            "Sid": "IPAllow",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [
                "arn:aws:s3:::DOC-EXAMPLE-BUCKET",
                "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"
            ],
            "Condition": {
                "NotIpAddress": {
                    "aws:SourceIp": "192.0.2.0/24"
                }
            }
        }
    ]
}`
	docIPMix = `{
    "Id": "PolicyId2",
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowIPmix",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [
                "arn:aws:s3:::DOC-EXAMPLE-BUCKET",
                "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"
            ],
            "Condition": {
                "IpAddress": {
                    "aws:SourceIp": [
                        "192.0.2.0/24",
                        "2001:DB8:1234:5678::/64"
                    ]
                },
                "NotIpAddress": {
                    "aws:SourceIp": [
                        "203.0.113.0/24",
                        "2001:DB8:1234:5678:ABCD::/80"
                    ]
                }
            }
        }
    ]
}`
	docTLSOnly = `{
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "RestrictToTLSRequestsOnly",
        "Action": "s3:*",
        "Effect": "Deny",
        "Resource": [
            "arn:aws:s3:::DOC-EXAMPLE-BUCKET",
            "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"
        ],
        "Condition": {
            "Bool": {
                "aws:SecureTransport": "false"
            }
        },
        "Principal": "*"
    }]
}`
	docReferer = `{
  "Version":"2012-10-17",
  "Id":"HTTP referer policy example",
  "Statement":[
    {
      "Sid":"Allow only GET requests originating from www.example.com and example.com.",
      "Effect":"Allow",
      "Principal":"*",
      "Action":["s3:GetObject","s3:GetObjectVersion"],
      "Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*",
      "Condition":{
        "StringLike":{"aws:Referer":["http://www.example.com/*","http://example.com/*"]}
      }
    }
  ]
}`
	docHomeFolder = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowRootAndHomeListingOfCompanyBucket",
            "Principal": {
                "AWS": [
                    "arn:aws:iam::111122223333:user/JohnDoe"
                ]
            },
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET"],
            "Condition": {
                "StringEquals": {
                    "s3:prefix": ["", "home/", "home/JohnDoe"],
                    "s3:delimiter": ["/"]
                }
            }
        },
        {
            "Sid": "AllowListingOfUserFolder",
            "Principal": {
                "AWS": [
                    "arn:aws:iam::111122223333:user/JohnDoe"
                ]
            },
            "Action": ["s3:ListBucket"],
            "Effect": "Allow",
            "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET"],
            "Condition": {
                "StringLike": {
                    "s3:prefix": ["home/JohnDoe/*"]
                }
            }
        },
        {
            "Sid": "AllowAllS3ActionsInUserFolder",
            "Effect": "Allow",
            "Principal": {
                "AWS": [
                    "arn:aws:iam::111122223333:user/JohnDoe"
                ]
            },
            "Action": ["s3:*"],
            "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET/home/JohnDoe/*"]
        }
    ]
}`
	docInventoryReport = `{
	"Id": "GetObjectPolicy",
	"Version": "2012-10-17",
	"Statement": [{
			"Sid": "AllowListBucket",
			"Action": [
				"s3:ListBucket"
			],
			"Effect": "Allow",
			"Resource": [
				"arn:aws:s3:::DOC-EXAMPLE-DESTINATION-BUCKET",
				"arn:aws:s3:::DOC-EXAMPLE-DESTINATION-BUCKET/*"
			],
			"Principal": {
				"AWS": [
					"arn:aws:iam::111122223333:user/Ana"
				]
			}
		},
		{
			"Sid": "AllowACertainUserToReadObject",
			"Action": [
				"s3:GetObject"
			],
			"Effect": "Allow",
			"Resource": "arn:aws:s3:::DOC-EXAMPLE-DESTINATION-BUCKET/DOC-EXAMPLE-DESTINATION-BUCKET-INVENTORY/*",
			"Principal": {
				"AWS": [
					"arn:aws:iam::111122223333:user/Ana"
				]
			}
		},
		{
			"Sid": "DenyAllTheOtherUsersToReadObject",
			"Action": [
				"s3:GetObject"
			],
			"Effect": "Deny",
			"Resource": "arn:aws:s3:::DOC-EXAMPLE-DESTINATION-BUCKET/DOC-EXAMPLE-DESTINATION-BUCKET-INVENTORY/*",
			"Principal": {
				"AWS": "*"
			},
			"Condition": {
				"ArnNotEquals": {
					"aws:PrincipalArn": "arn:aws:iam::111122223333:user/Ana"
				}
			}
		}
	]
}`
	docMFA = `{
    "Version": "2012-10-17",
    "Id": "123",
    "Statement": [
      {
        "Sid": "",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET/taxdocuments/*",
        "Condition": {"Null": {"aws:MultiFactorAuthAge": true }}
      },
      {
        "Sid": "",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET/taxdocuments/*",
        "Condition": {"NumericGreaterThan": {"aws:MultiFactorAuthAge": 3600 }}
       },
       {
         "Sid": "",
         "Effect": "Allow",
         "Principal": "*",
         "Action": ["s3:GetObject"],
         "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"
       }
    ]
 }`
)

// Documents from the S3 User Guide, "Amazon S3 condition key examples" (amazon-s3-policy-keys.html) and
// "Amazon S3 actions" (using-with-s3-actions.html).
const (
	docPrefixProjects = `{
   "Version":"2012-10-17",
   "Statement":[
      {
         "Sid":"statement1",
         "Effect":"Allow",
         "Principal": {
            "AWS": "arn:aws:iam::111122223333:user/JohnDoe"
         },
         "Action":  "s3:ListBucket",
         "Resource": "arn:aws:s3:::awsexamplebucket1",
         "Condition" : {
             "StringEquals" : {
                 "s3:prefix": "projects"
             }
          }
       },
      {
         "Sid":"statement2",
         "Effect":"Deny",
         "Principal": {
            "AWS": "arn:aws:iam::111122223333:user/JohnDoe"
         },
         "Action": "s3:ListBucket",
         "Resource": "arn:aws:s3:::awsexamplebucket1",
         "Condition" : {
             "StringNotEquals" : {
                 "s3:prefix": "projects"
             }
          }
       }
    ]
}`
	docDaveExplicitDeny = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "statement1",
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::111122223333:user/JohnDoe"
      },
      "Action": [
        "s3:GetObjectVersion",
        "s3:GetBucketAcl"
      ],
      "Resource": [
        "arn:aws:s3:::DOC-EXAMPLE-BUCKET1",
	 	"arn:aws:s3:::DOC-EXAMPLE-BUCKET1/*"
      ]
    },
    {
      "Sid": "statement2",
      "Effect": "Deny",
      "Principal": {
        "AWS": "arn:aws:iam::111122223333:user/JohnDoe"
      },
      "Action": [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutLifecycleConfiguration"
      ],
      "Resource": [
        "arn:aws:s3:::DOC-EXAMPLE-BUCKET1",
	    "arn:aws:s3:::DOC-EXAMPLE-BUCKET1/*"
      ]
    }
  ]
}`
	// The "Policy for maximum keys" example is built from the IAM operators page's NumericLessThanEquals example
	// (s3:max-keys up to 10) with a Principal, as the condition key examples page describes.
	docMaxKeys = `{
  "Version": "2012-10-17",
  "Statement": {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:user/JohnDoe"},
    "Action": "s3:ListBucket",
    "Resource": "arn:aws:s3:::example_bucket",
    "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}}
  }
}`
	docTLSVersion = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": [
                "arn:aws:s3:::DOC-EXAMPLE-BUCKET1",
                "arn:aws:s3:::DOC-EXAMPLE-BUCKET1/*"
            ],
            "Condition": {
                "NumericLessThan": {
                    "s3:TlsVersion": 1.2
                }
            }
        }
    ]
}`
)

// Documents from the IAM User Guide: "Policy evaluation logic" (reference_policies_evaluation-logic.html),
// "IAM policy elements: Variables and tags" (reference_policies_variables.html), "NotAction", "NotResource",
// "NotPrincipal", and the "AWS: Allows access based on date and time" example.
const (
	docCarlosIdentity = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowS3ListRead",
            "Effect": "Allow",
            "Action": [
                "s3:GetBucketLocation",
                "s3:GetAccountPublicAccessBlock",
                "s3:ListAccessPoints",
                "s3:ListAllMyBuckets"
            ],
            "Resource": "arn:aws:s3:::*"
        },
        {
            "Sid": "AllowS3Self",
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [
                "arn:aws:s3:::carlossalazar/*",
                "arn:aws:s3:::carlossalazar"
            ]
        },
        {
            "Sid": "DenyS3Logs",
            "Effect": "Deny",
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::*log*"
        }
    ]
}`
	docCarlosBucket = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {
                "AWS": "arn:aws:iam::123456789012:user/carlossalazar"
            },
            "Action": "s3:*",
            "Resource": [
                "arn:aws:s3:::carlossalazar/*",
                "arn:aws:s3:::carlossalazar"
            ]
        }
    ]
}`
	docAllowGetListDenyReports = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowGetList",
            "Effect": "Allow",
            "Action": [
                "iam:Get*",
                "iam:List*"
            ],
            "Resource": "*"
        },
        {
            "Sid": "DenyReports",
            "Effect": "Deny",
            "Action": "iam:*Report",
            "Resource": "*"
        }
    ]
}`
	docHomeDirectoryVariables = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ListObjectsInBucket",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::bucket-name",
            "Condition": {
                "StringLike": {
                    "s3:prefix": [
                        "",
                        "home/",
                        "home/${aws:username}/*"
                    ]
                }
            }
        },
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [
                "arn:aws:s3:::bucket-name/home/${aws:username}",
                "arn:aws:s3:::bucket-name/home/${aws:username}/*"
            ]
        }
    ]
}`
	docTeamDefault = `{
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET-${aws:PrincipalTag/team, 'company-wide'}/*"
    }]
}`
	docNotActionAllow = `{
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "NotAction": "s3:DeleteBucket",
        "Resource": "arn:aws:s3:::*"
    }]
}`
	docNotActionMFA = `{
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "DenyAllUsersNotUsingMFA",
        "Effect": "Deny",
        "NotAction": "iam:*",
        "Resource": "*",
        "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
    }]
}`
	docNotResource = `{
  "Version": "2012-10-17",
  "Statement": {
    "Effect": "Deny",
    "Action": "s3:*",
    "NotResource": [
      "arn:aws:s3:::HRBucket/Payroll",
      "arn:aws:s3:::HRBucket/Payroll/*"
    ]
  }
}`
	docNotPrincipalBob = `{
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Deny",
        "NotPrincipal": {"AWS": [
            "arn:aws:iam::444455556666:user/Bob",
            "arn:aws:iam::444455556666:root"
        ]},
        "Action": "s3:*",
        "Resource": [
            "arn:aws:s3:::BUCKETNAME",
            "arn:aws:s3:::BUCKETNAME/*"
        ]
    }]
}`
	docNotPrincipalUserOnly = `{
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Deny",
        "NotPrincipal": {"AWS": "arn:aws:iam::444455556666:user/Bob"},
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::BUCKETNAME/*"
    }]
}`
	docDates = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "service-prefix:action-name",
            "Resource": "*",
            "Condition": {
                "DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
                "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}
            }
        }
    ]
}`
	docDynamoForAllValues = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "dynamodb:GetItem",
            "Resource": "arn:aws:dynamodb:*:*:table/Thread",
            "Condition": {
                "ForAllValues:StringEquals": {
                    "dynamodb:Attributes": [
                        "ID",
                        "Message",
                        "Tags"
                    ]
                }
            }
        }
    ]
}`
	docDynamoForAnyValueDeny = `{
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Deny",
        "Action": "dynamodb:PutItem",
        "Resource": "arn:aws:dynamodb:*:*:table/Thread",
        "Condition": {
            "ForAnyValue:StringEquals": {
                "dynamodb:Attributes": [
                    "ID",
                    "PostDateTime"
                ]
            }
        }
    }
}`
)

// TestEvaluate runs AWS's documented policies against the requests their pages describe, and asserts the outcome
// the pages give.
func TestEvaluate(t *testing.T) {
	const bucket = "arn:aws:s3:::DOC-EXAMPLE-BUCKET"
	tests := []struct {
		name string
		kind Kind
		doc  string
		req  Request
		want Decision
	}{
		// Requiring encryption.
		{name: "SSE-KMS required: PutObject without a KMS key is denied", doc: docRequireSSEKMS,
			req:  Request{Principal: johnDoe, Action: "s3:PutObject", Resource: bucket + "/a.txt"},
			want: Deny},
		{name: "SSE-KMS required: PutObject with a KMS key is not denied", doc: docRequireSSEKMS,
			req: Request{Principal: johnDoe, Action: "s3:PutObject", Resource: bucket + "/a.txt",
				Context: ctx("s3:x-amz-server-side-encryption-aws-kms-key-id", "arn:aws:kms:us-east-2:111122223333:key/x")},
			want: NotApplicable},
		{name: "specific KMS key: ArnNotEqualsIfExists on an absent key still denies", doc: docRequireKMSKey,
			req:  Request{Principal: johnDoe, Action: "s3:PutObject", Resource: bucket + "/a.txt"},
			want: Deny},
		{name: "specific KMS key: another key is denied", doc: docRequireKMSKey,
			req: Request{Principal: johnDoe, Action: "s3:PutObject", Resource: bucket + "/a.txt",
				Context: ctx("s3:x-amz-server-side-encryption-aws-kms-key-id", "arn:aws:kms:us-east-2:111122223333:key/other")},
			want: Deny},
		{name: "specific KMS key: the right key is not denied", doc: docRequireKMSKey,
			req: Request{Principal: johnDoe, Action: "s3:PutObject", Resource: bucket + "/a.txt",
				Context: ctx("s3:x-amz-server-side-encryption-aws-kms-key-id", "arn:aws:kms:us-east-2:111122223333:key/01234567-89ab-cdef-0123-456789abcdef")},
			want: NotApplicable},

		// Canned ACLs: two accounts by root ARN; an account ARN covers the account's users.
		{name: "public-read canned ACL required: user of a listed account with it", doc: docPublicReadCannedACL,
			req:  Request{Principal: bob, Action: "s3:PutObject", Resource: bucket + "/k", Context: ctx("s3:x-amz-acl", "public-read")},
			want: Allow},
		{name: "public-read canned ACL required: without it", doc: docPublicReadCannedACL,
			req:  Request{Principal: bob, Action: "s3:PutObject", Resource: bucket + "/k", Context: ctx("s3:x-amz-acl", "private")},
			want: NotApplicable},
		{name: "public-read canned ACL required: unlisted account", doc: docPublicReadCannedACL,
			req:  Request{Principal: mallory, Action: "s3:PutObject", Resource: bucket + "/k", Context: ctx("s3:x-amz-acl", "public-read")},
			want: NotApplicable},
		{name: "public-read canned ACL required: action is case-insensitive", doc: docPublicReadCannedACL,
			req:  Request{Principal: ownerRoot, Action: "S3:putobjectACL", Resource: bucket + "/k", Context: ctx("s3:x-amz-acl", "public-read")},
			want: Allow},
		{name: "public-read canned ACL required: condition key names are case-insensitive", doc: docPublicReadCannedACL,
			req:  Request{Principal: ownerRoot, Action: "s3:PutObject", Resource: bucket + "/k", Context: ctx("S3:X-Amz-Acl", "public-read")},
			want: Allow},
		{name: "public-read canned ACL required: condition values are case-sensitive", doc: docPublicReadCannedACL,
			req:  Request{Principal: ownerRoot, Action: "s3:PutObject", Resource: bucket + "/k", Context: ctx("s3:x-amz-acl", "Public-Read")},
			want: NotApplicable},
		{name: "public-read canned ACL required: anonymous is no account", doc: docPublicReadCannedACL,
			req:  Request{Principal: anonymous, Action: "s3:PutObject", Resource: bucket + "/k", Context: ctx("s3:x-amz-acl", "public-read")},
			want: NotApplicable},

		// Object tags.
		{name: "existing object tag matches", doc: docExistingObjectTag,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: bucket + "/report", Context: ctx("s3:ExistingObjectTag/environment", "production")},
			want: Allow},
		{name: "existing object tag differs", doc: docExistingObjectTag,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: bucket + "/report", Context: ctx("s3:ExistingObjectTag/environment", "staging")},
			want: NotApplicable},
		{name: "user principal does not cover another user of the account", doc: docExistingObjectTag,
			req:  Request{Principal: jane, Action: "s3:GetObject", Resource: bucket + "/report", Context: ctx("s3:ExistingObjectTag/environment", "production")},
			want: NotApplicable},
		{name: "user principal does not cover its account's root", doc: docExistingObjectTag,
			req:  Request{Principal: ownerRoot, Action: "s3:GetObject", Resource: bucket + "/report", Context: ctx("s3:ExistingObjectTag/environment", "production")},
			want: NotApplicable},
		{name: "ForAnyValue: one allowed tag key among others", doc: docRequestObjectTagKeys,
			req:  Request{Principal: johnDoe, Action: "s3:PutObjectTagging", Resource: bucket + "/k", Context: map[string][]string{"s3:RequestObjectTagKeys": {"Project", "Owner"}}},
			want: Allow},
		{name: "ForAnyValue: no allowed tag key", doc: docRequestObjectTagKeys,
			req:  Request{Principal: johnDoe, Action: "s3:PutObjectTagging", Resource: bucket + "/k", Context: map[string][]string{"s3:RequestObjectTagKeys": {"Project"}}},
			want: NotApplicable},
		{name: "ForAnyValue: absent key is false", doc: docRequestObjectTagKeys,
			req:  Request{Principal: johnDoe, Action: "s3:PutObjectTagging", Resource: bucket + "/k"},
			want: NotApplicable},

		// Global condition keys.
		{name: "server access logs: the logging service from the source bucket's account", doc: docServerAccessLogs,
			req: Request{Principal: logging, Action: "s3:PutObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-BUCKET-logs/log1",
				Context: map[string][]string{"aws:SourceAccount": {"111111111111"}, "aws:SourceArn": {"arn:aws:s3:::EXAMPLE-SOURCE-BUCKET"},
					"aws:PrincipalServiceNamesList": {"logging.s3.amazonaws.com"}}},
			want: Allow},
		{name: "server access logs: another source account", doc: docServerAccessLogs,
			req: Request{Principal: logging, Action: "s3:PutObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-BUCKET-logs/log1",
				Context: map[string][]string{"aws:SourceAccount": {"222222222222"}, "aws:SourceArn": {"arn:aws:s3:::EXAMPLE-SOURCE-BUCKET"},
					"aws:PrincipalServiceNamesList": {"logging.s3.amazonaws.com"}}},
			want: NotApplicable},
		{name: "server access logs: ForAllValues on an empty set denies a user", doc: docServerAccessLogs,
			req:  Request{Principal: johnDoe, Action: "s3:PutObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-BUCKET-logs/log1"},
			want: Deny},
		{name: "organization: principal in the organization", doc: docOrgOnly,
			req:  Request{Principal: bob, Action: "s3:GetObject", Resource: bucket + "/k", Context: ctx("aws:PrincipalOrgID", "o-aa111bb222")},
			want: Allow},
		{name: "organization: principal outside it", doc: docOrgOnly,
			req:  Request{Principal: bob, Action: "s3:GetObject", Resource: bucket + "/k", Context: ctx("aws:PrincipalOrgID", "o-other")},
			want: NotApplicable},
		{name: "organization: anonymous has no organization", doc: docOrgOnly,
			req:  Request{Principal: anonymous, Action: "s3:GetObject", Resource: bucket + "/k"},
			want: NotApplicable},

		// IP addresses.
		{name: "NotIpAddress deny: outside the range", doc: docDenyOutsideIP,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: bucket + "/k", Context: ctx("aws:SourceIp", "198.51.100.7")},
			want: Deny},
		{name: "NotIpAddress deny: inside the range", doc: docDenyOutsideIP,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: bucket + "/k", Context: ctx("aws:SourceIp", "192.0.2.77")},
			want: NotApplicable},
		{name: "NotIpAddress deny: the bucket itself", doc: docDenyOutsideIP,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: bucket, Context: ctx("aws:SourceIp", "10.0.0.1")},
			want: Deny},
		{name: "NotIpAddress deny: absent source IP is denied", doc: docDenyOutsideIP,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: bucket + "/k"},
			want: Deny},
		{name: "IPv4 and IPv6 mix: allowed IPv4", doc: docIPMix,
			req:  Request{Principal: anonymous, Action: "s3:GetObject", Resource: bucket + "/k", Context: ctx("aws:SourceIp", "192.0.2.1")},
			want: Allow},
		{name: "IPv4 and IPv6 mix: allowed IPv6", doc: docIPMix,
			req:  Request{Principal: anonymous, Action: "s3:GetObject", Resource: bucket + "/k", Context: ctx("aws:SourceIp", "2001:db8:1234:5678::1")},
			want: Allow},
		{name: "IPv4 and IPv6 mix: excluded IPv6 /80", doc: docIPMix,
			req:  Request{Principal: anonymous, Action: "s3:GetObject", Resource: bucket + "/k", Context: ctx("aws:SourceIp", "2001:db8:1234:5678:abcd::9")},
			want: NotApplicable},
		{name: "IPv4 and IPv6 mix: excluded IPv4", doc: docIPMix,
			req:  Request{Principal: anonymous, Action: "s3:GetObject", Resource: bucket + "/k", Context: ctx("aws:SourceIp", "203.0.113.9")},
			want: NotApplicable},
		{name: "IPv4 and IPv6 mix: IPv4-mapped IPv6 address is the IPv4 address", doc: docIPMix,
			req:  Request{Principal: anonymous, Action: "s3:GetObject", Resource: bucket + "/k", Context: ctx("aws:SourceIp", "::ffff:192.0.2.1")},
			want: Allow},

		// HTTPS only.
		{name: "Bool aws:SecureTransport false is denied", doc: docTLSOnly,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: bucket + "/k", Context: ctx("aws:SecureTransport", "false")},
			want: Deny},
		{name: "Bool aws:SecureTransport true is not denied", doc: docTLSOnly,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: bucket + "/k", Context: ctx("aws:SecureTransport", "true")},
			want: NotApplicable},
		{name: "StringLike referer match", doc: docReferer,
			req:  Request{Principal: anonymous, Action: "s3:GetObjectVersion", Resource: bucket + "/img.png", Context: ctx("aws:Referer", "http://www.example.com/gallery/1")},
			want: Allow},
		{name: "StringLike referer elsewhere", doc: docReferer,
			req:  Request{Principal: anonymous, Action: "s3:GetObject", Resource: bucket + "/img.png", Context: ctx("aws:Referer", "http://evil.example.net/")},
			want: NotApplicable},

		// Folders: StringEquals with an empty string, several keys ANDed, StringLike prefix.
		{name: "home folder: list the root with delimiter", doc: docHomeFolder,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: bucket, Context: ctx("s3:prefix", "", "s3:delimiter", "/")},
			want: Allow},
		{name: "home folder: list the root without delimiter fails the AND", doc: docHomeFolder,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: bucket, Context: ctx("s3:prefix", "")},
			want: NotApplicable},
		{name: "home folder: list own folder", doc: docHomeFolder,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: bucket, Context: ctx("s3:prefix", "home/JohnDoe/photos/")},
			want: Allow},
		{name: "home folder: list someone else's folder", doc: docHomeFolder,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: bucket, Context: ctx("s3:prefix", "home/Jane/")},
			want: NotApplicable},
		{name: "home folder: wildcard resource spans slashes", doc: docHomeFolder,
			req:  Request{Principal: johnDoe, Action: "s3:DeleteObject", Resource: bucket + "/home/JohnDoe/a/b/c.txt"},
			want: Allow},
		{name: "home folder: resources are case-sensitive", doc: docHomeFolder,
			req:  Request{Principal: johnDoe, Action: "s3:DeleteObject", Resource: bucket + "/home/johndoe/c.txt"},
			want: NotApplicable},

		// Inventory report: ArnNotEquals on aws:PrincipalArn, derived from the principal.
		{name: "inventory: Ana reads the report", doc: docInventoryReport,
			req: Request{Principal: Principal{AccountID: "111122223333", ARN: "arn:aws:iam::111122223333:user/Ana"},
				Action: "s3:GetObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-DESTINATION-BUCKET/DOC-EXAMPLE-DESTINATION-BUCKET-INVENTORY/data.csv"},
			want: Allow},
		{name: "inventory: anyone else is denied", doc: docInventoryReport,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-DESTINATION-BUCKET/DOC-EXAMPLE-DESTINATION-BUCKET-INVENTORY/data.csv"},
			want: Deny},
		{name: "inventory: anonymous is denied (no aws:PrincipalArn)", doc: docInventoryReport,
			req:  Request{Principal: anonymous, Action: "s3:GetObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-DESTINATION-BUCKET/DOC-EXAMPLE-DESTINATION-BUCKET-INVENTORY/data.csv"},
			want: Deny},

		// MFA: Null and NumericGreaterThan with a JSON number.
		{name: "MFA: tax documents without MFA are denied", doc: docMFA,
			req:  Request{Principal: anonymous, Action: "s3:GetObject", Resource: bucket + "/taxdocuments/2020.pdf"},
			want: Deny},
		{name: "MFA: tax documents with a recent MFA", doc: docMFA,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: bucket + "/taxdocuments/2020.pdf", Context: ctx("aws:MultiFactorAuthAge", "120")},
			want: Allow},
		{name: "MFA: tax documents with an MFA older than an hour", doc: docMFA,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: bucket + "/taxdocuments/2020.pdf", Context: ctx("aws:MultiFactorAuthAge", "3601")},
			want: Deny},
		{name: "MFA: other objects are public", doc: docMFA,
			req:  Request{Principal: anonymous, Action: "s3:GetObject", Resource: bucket + "/index.html"},
			want: Allow},

		// Condition key examples.
		{name: "prefix projects: allowed", doc: docPrefixProjects,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: "arn:aws:s3:::awsexamplebucket1", Context: ctx("s3:prefix", "projects")},
			want: Allow},
		{name: "prefix projects: explicit deny wins for another prefix", doc: docPrefixProjects,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: "arn:aws:s3:::awsexamplebucket1", Context: ctx("s3:prefix", "secret")},
			want: Deny},
		{name: "prefix projects: no prefix is denied (StringNotEquals holds on an absent key)", doc: docPrefixProjects,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: "arn:aws:s3:::awsexamplebucket1"},
			want: Deny},
		{name: "explicit deny: Dave cannot delete", doc: docDaveExplicitDeny,
			req:  Request{Principal: johnDoe, Action: "s3:DeleteObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-BUCKET1/k"},
			want: Deny},
		{name: "explicit deny: Dave reads a version", doc: docDaveExplicitDeny,
			req:  Request{Principal: johnDoe, Action: "s3:GetObjectVersion", Resource: "arn:aws:s3:::DOC-EXAMPLE-BUCKET1/k"},
			want: Allow},
		{name: "NumericLessThanEquals s3:max-keys 10", doc: docMaxKeys,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: "arn:aws:s3:::example_bucket", Context: ctx("s3:max-keys", "10")},
			want: Allow},
		{name: "NumericLessThanEquals s3:max-keys 1000", doc: docMaxKeys,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: "arn:aws:s3:::example_bucket", Context: ctx("s3:max-keys", "1000")},
			want: NotApplicable},
		{name: "NumericLessThanEquals s3:max-keys not a number", doc: docMaxKeys,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: "arn:aws:s3:::example_bucket", Context: ctx("s3:max-keys", "ten")},
			want: NotApplicable},
		{name: "NumericLessThan decimal TLS 1.1 is denied", doc: docTLSVersion,
			req:  Request{Principal: johnDoe, Action: "s3:PutObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-BUCKET1/k", Context: ctx("s3:TlsVersion", "1.1")},
			want: Deny},
		{name: "NumericLessThan decimal TLS 1.3 is not", doc: docTLSVersion,
			req:  Request{Principal: johnDoe, Action: "s3:PutObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-BUCKET1/k", Context: ctx("s3:TlsVersion", "1.3")},
			want: NotApplicable},

		// Policy evaluation logic: Carlos.
		{name: "Carlos: deny on *log* wins over his allows", kind: Identity, doc: docCarlosIdentity,
			req:  Request{Principal: Principal{AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:user/carlossalazar"}, Action: "s3:PutObject", Resource: "arn:aws:s3:::carlossalazar-logs/file.txt"},
			want: Deny},
		{name: "Carlos: his own bucket", kind: Identity, doc: docCarlosIdentity,
			req:  Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::carlossalazar/file.txt"},
			want: Allow},
		{name: "Carlos: someone else's bucket", kind: Identity, doc: docCarlosIdentity,
			req:  Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::other/file.txt"},
			want: NotApplicable},
		{name: "Carlos's bucket policy names only him", doc: docCarlosBucket,
			req:  Request{Principal: Principal{AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:user/carlossalazar"}, Action: "s3:PutObject", Resource: "arn:aws:s3:::carlossalazar/file.txt"},
			want: Allow},
		{name: "Get and List allowed", kind: Identity, doc: docAllowGetListDenyReports,
			req:  Request{Action: "iam:GetUser", Resource: "arn:aws:iam::123456789012:user/x"},
			want: Allow},
		{name: "actions ending in Report explicitly denied", kind: Identity, doc: docAllowGetListDenyReports,
			req:  Request{Action: "iam:GetOrganizationsAccessReport", Resource: "*"},
			want: Deny},
		{name: "other IAM actions implicitly denied", kind: Identity, doc: docAllowGetListDenyReports,
			req:  Request{Action: "iam:CreatePolicy", Resource: "*"},
			want: NotApplicable},

		// Variables.
		{name: "variables: own home directory object", kind: Identity, doc: docHomeDirectoryVariables,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: "arn:aws:s3:::bucket-name/home/JohnDoe/notes.txt"},
			want: Allow},
		{name: "variables: another user's home directory", kind: Identity, doc: docHomeDirectoryVariables,
			req:  Request{Principal: jane, Action: "s3:GetObject", Resource: "arn:aws:s3:::bucket-name/home/JohnDoe/notes.txt"},
			want: NotApplicable},
		{name: "variables: aws:username from Context wins over the derived one", kind: Identity, doc: docHomeDirectoryVariables,
			req:  Request{Principal: jane, Action: "s3:GetObject", Resource: "arn:aws:s3:::bucket-name/home/JohnDoe/notes.txt", Context: ctx("aws:username", "JohnDoe")},
			want: Allow},
		{name: "variables: in a StringLike condition", kind: Identity, doc: docHomeDirectoryVariables,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: "arn:aws:s3:::bucket-name", Context: ctx("s3:prefix", "home/JohnDoe/docs")},
			want: Allow},
		{name: "variables: StringLike with another user's prefix", kind: Identity, doc: docHomeDirectoryVariables,
			req:  Request{Principal: johnDoe, Action: "s3:ListBucket", Resource: "arn:aws:s3:::bucket-name", Context: ctx("s3:prefix", "home/Jane/docs")},
			want: NotApplicable},
		{name: "variables: the root has no aws:username, so the resource matches nothing", kind: Identity, doc: docHomeDirectoryVariables,
			req:  Request{Principal: ownerRoot, Action: "s3:GetObject", Resource: "arn:aws:s3:::bucket-name/home/${aws:username}/x"},
			want: NotApplicable},
		{name: "variables: a value holding * is no wildcard", kind: Identity, doc: docHomeDirectoryVariables,
			req:  Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::bucket-name/home/JohnDoe/x", Context: ctx("aws:username", "*")},
			want: NotApplicable},
		{name: "variables: default value when the tag is absent", kind: Identity, doc: docTeamDefault,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-BUCKET-company-wide/info.txt"},
			want: Allow},
		{name: "variables: the tag's value when present", kind: Identity, doc: docTeamDefault,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-BUCKET-yellow/info.txt", Context: ctx("aws:PrincipalTag/team", "yellow")},
			want: Allow},
		{name: "variables: another team's bucket", kind: Identity, doc: docTeamDefault,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-BUCKET-blue/info.txt", Context: ctx("aws:PrincipalTag/team", "yellow")},
			want: NotApplicable},
		{name: "variables: not under Version 2008-10-17", kind: Identity,
			doc:  `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}`,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/JohnDoe/x"},
			want: NotApplicable},
		{name: "variables: literal under Version 2008-10-17", kind: Identity,
			doc:  `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}`,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/${aws:username}/x"},
			want: Allow},
		{name: "variables: literal without a Version", kind: Identity,
			doc:  `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}`,
			req:  Request{Principal: johnDoe, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/JohnDoe/x"},
			want: NotApplicable},
		{name: "variables: ${*} is a literal asterisk", kind: Identity,
			doc:  `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/star${*}"}]}`,
			req:  Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/starry"},
			want: NotApplicable},
		{name: "variables: ${*} matches an asterisk", kind: Identity,
			doc:  `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/star${*}${?}${$}"}]}`,
			req:  Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/star*?$"},
			want: Allow},
		{name: "variables: aws:PrincipalAccount in a condition", kind: Identity,
			doc:  `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringEquals":{"s3:prefix":"${aws:PrincipalAccount}/"}}}]}`,
			req:  Request{Principal: bob, Action: "s3:ListBucket", Resource: "arn:aws:s3:::b", Context: ctx("s3:prefix", "444455556666/")},
			want: Allow},
		{name: "variables: aws:userid of a root is its account", kind: Identity,
			doc:  `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:userid}/*"}]}`,
			req:  Request{Principal: bobRoot, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/444455556666/x"},
			want: Allow},
		{name: "variables: not before the fifth colon of a Resource", kind: Identity,
			doc:  `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:us-east-2:${aws:PrincipalAccount}:q"}]}`,
			req:  Request{Principal: bob, Action: "sqs:SendMessage", Resource: "arn:aws:sqs:us-east-2:444455556666:q"},
			want: NotApplicable},

		// NotAction, NotResource, NotPrincipal.
		{name: "NotAction allow: everything but DeleteBucket", kind: Identity, doc: docNotActionAllow,
			req:  Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::b/k"},
			want: Allow},
		{name: "NotAction allow: not DeleteBucket", kind: Identity, doc: docNotActionAllow,
			req:  Request{Action: "s3:DeleteBucket", Resource: "arn:aws:s3:::b"},
			want: NotApplicable},
		{name: "NotAction deny with BoolIfExists: no MFA, non-IAM action", kind: Identity, doc: docNotActionMFA,
			req:  Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: ctx("aws:MultiFactorAuthPresent", "false")},
			want: Deny},
		{name: "NotAction deny with BoolIfExists: absent key counts as a match", kind: Identity, doc: docNotActionMFA,
			req:  Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"},
			want: Deny},
		{name: "NotAction deny with BoolIfExists: with MFA", kind: Identity, doc: docNotActionMFA,
			req:  Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: ctx("aws:MultiFactorAuthPresent", "true")},
			want: NotApplicable},
		{name: "NotAction deny with BoolIfExists: IAM actions are exempt", kind: Identity, doc: docNotActionMFA,
			req:  Request{Action: "iam:ListUsers", Resource: "*", Context: ctx("aws:MultiFactorAuthPresent", "false")},
			want: NotApplicable},
		{name: "NotResource deny: outside Payroll", kind: Identity, doc: docNotResource,
			req:  Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::HRBucket/Other/x"},
			want: Deny},
		{name: "NotResource deny: inside Payroll", kind: Identity, doc: docNotResource,
			req:  Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::HRBucket/Payroll/x"},
			want: NotApplicable},
		{name: "NotPrincipal deny: Bob with his account listed is exempt", doc: docNotPrincipalBob,
			req:  Request{Principal: bob, Action: "s3:GetObject", Resource: "arn:aws:s3:::BUCKETNAME/k"},
			want: NotApplicable},
		{name: "NotPrincipal deny: Bob's account root is exempt", doc: docNotPrincipalBob,
			req:  Request{Principal: bobRoot, Action: "s3:GetObject", Resource: "arn:aws:s3:::BUCKETNAME/k"},
			want: NotApplicable},
		{name: "NotPrincipal deny: another user of Bob's account is denied", doc: docNotPrincipalBob,
			req: Request{Principal: Principal{AccountID: "444455556666", ARN: "arn:aws:iam::444455556666:user/Eve"},
				Action: "s3:GetObject", Resource: "arn:aws:s3:::BUCKETNAME/k"},
			want: Deny},
		{name: "NotPrincipal deny: anonymous is denied", doc: docNotPrincipalBob,
			req:  Request{Principal: anonymous, Action: "s3:GetObject", Resource: "arn:aws:s3:::BUCKETNAME/k"},
			want: Deny},
		{name: "NotPrincipal deny: naming only the user still denies him through his account", doc: docNotPrincipalUserOnly,
			req:  Request{Principal: bob, Action: "s3:GetObject", Resource: "arn:aws:s3:::BUCKETNAME/k"},
			want: Deny},

		// Dates and set operators from the IAM pages.
		{name: "date window: inside", kind: Identity, doc: docDates,
			req:  Request{Action: "service-prefix:action-name", Resource: "x", Context: ctx("aws:CurrentTime", "2020-05-15T12:00:00Z")},
			want: Allow},
		{name: "date window: after", kind: Identity, doc: docDates,
			req:  Request{Action: "service-prefix:action-name", Resource: "x", Context: ctx("aws:CurrentTime", "2020-07-01T00:00:00Z")},
			want: NotApplicable},
		{name: "date window: epoch seconds in the request", kind: Identity, doc: docDates,
			req:  Request{Action: "service-prefix:action-name", Resource: "x", Context: ctx("aws:CurrentTime", "1589544000")},
			want: Allow},
		{name: "ForAllValues: every requested attribute allowed", kind: Identity, doc: docDynamoForAllValues,
			req:  Request{Action: "dynamodb:GetItem", Resource: "arn:aws:dynamodb:us-east-1:123456789012:table/Thread", Context: map[string][]string{"dynamodb:Attributes": {"ID", "Message"}}},
			want: Allow},
		{name: "ForAllValues: one attribute not allowed", kind: Identity, doc: docDynamoForAllValues,
			req:  Request{Action: "dynamodb:GetItem", Resource: "arn:aws:dynamodb:us-east-1:123456789012:table/Thread", Context: map[string][]string{"dynamodb:Attributes": {"PostDateTime", "UserName"}}},
			want: NotApplicable},
		{name: "ForAllValues: empty set is true", kind: Identity, doc: docDynamoForAllValues,
			req:  Request{Action: "dynamodb:GetItem", Resource: "arn:aws:dynamodb:us-east-1:123456789012:table/Thread", Context: map[string][]string{"dynamodb:Attributes": {}}},
			want: Allow},
		{name: "ForAnyValue deny: one forbidden attribute", kind: Identity, doc: docDynamoForAnyValueDeny,
			req:  Request{Action: "dynamodb:PutItem", Resource: "arn:aws:dynamodb:us-east-1:123456789012:table/Thread", Context: map[string][]string{"dynamodb:Attributes": {"UserName", "Message", "PostDateTime"}}},
			want: Deny},
		{name: "ForAnyValue deny: none forbidden", kind: Identity, doc: docDynamoForAnyValueDeny,
			req:  Request{Action: "dynamodb:PutItem", Resource: "arn:aws:dynamodb:us-east-1:123456789012:table/Thread", Context: map[string][]string{"dynamodb:Attributes": {"UserName"}}},
			want: NotApplicable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.doc, tc.kind)
			if got := p.Evaluate(tc.req); got != tc.want {
				t.Errorf("Evaluate = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCombine follows "Policy evaluation logic": an explicit deny in any policy overrides any allow; an allow in
// either an identity-based or a resource-based policy is enough; with neither the request is implicitly denied.
func TestCombine(t *testing.T) {
	carlos := Principal{AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:user/carlossalazar"}
	tests := []struct {
		name      string
		decisions []Decision
		want      Decision
	}{
		{name: "none", want: NotApplicable},
		{name: "only implicit", decisions: []Decision{NotApplicable, NotApplicable}, want: NotApplicable},
		{name: "one allow", decisions: []Decision{NotApplicable, Allow}, want: Allow},
		{name: "deny wins over allow", decisions: []Decision{Allow, Deny, Allow}, want: Deny},
		{name: "deny wins over nothing", decisions: []Decision{Deny}, want: Deny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Combine(tc.decisions...); got != tc.want {
				t.Errorf("Combine(%v) = %v, want %v", tc.decisions, got, tc.want)
			}
		})
	}

	// Carlos's identity policy and his bucket's policy together, as the page walks through them.
	identity := mustParse(t, docCarlosIdentity, Identity)
	bucket := mustParse(t, docCarlosBucket, Resource)
	walk := []struct {
		name string
		req  Request
		want Decision
	}{
		{name: "logs bucket: the identity policy's deny wins", want: Deny,
			req: Request{Principal: carlos, Action: "s3:PutObject", Resource: "arn:aws:s3:::carlossalazar-logs/f"}},
		{name: "own bucket: both allow", want: Allow,
			req: Request{Principal: carlos, Action: "s3:PutObject", Resource: "arn:aws:s3:::carlossalazar/f"}},
	}
	for _, tc := range walk {
		t.Run(tc.name, func(t *testing.T) {
			if got := Combine(identity.Evaluate(tc.req), bucket.Evaluate(tc.req)); got != tc.want {
				t.Errorf("Combine = %v, want %v", got, tc.want)
			}
		})
	}
}

// BenchmarkEvaluate measures one decision on a documented five-statement bucket policy with conditions and
// wildcards, the work the object store does for each request to a bucket with a policy.
func BenchmarkEvaluate(b *testing.B) {
	p := mustParse(b, docHomeFolder, Resource)
	req := Request{Principal: johnDoe, Action: "s3:GetObject", Resource: "arn:aws:s3:::DOC-EXAMPLE-BUCKET/home/JohnDoe/a/b.txt",
		Context: ctx("aws:SourceIp", "192.0.2.1", "aws:SecureTransport", "true", "s3:prefix", "home/JohnDoe/")}
	b.ReportAllocs()
	for b.Loop() {
		if p.Evaluate(req) != Allow {
			b.Fatal("not allowed")
		}
	}
}

// BenchmarkParse measures parsing a documented bucket policy, the work PutBucketPolicy does once per call.
func BenchmarkParse(b *testing.B) {
	doc := []byte(docServerAccessLogs)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(doc, Resource); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDerivedKeys checks the global condition keys derived from the caller when the request does not set them,
// with the values the IAM User Guide's "AWS global condition context keys" page gives them.
func TestDerivedKeys(t *testing.T) {
	pathUser := Principal{AccountID: "111122223333", ARN: "arn:aws:iam::111122223333:user/division/Ana"}
	tests := []struct {
		name      string
		principal Principal
		key       string
		context   map[string][]string
		want      string // "" for absent
	}{
		{name: "account of a user", principal: johnDoe, key: "aws:PrincipalAccount", want: "111122223333"},
		{name: "ARN of a user", principal: johnDoe, key: "AWS:PrincipalArn", want: "arn:aws:iam::111122223333:user/JohnDoe"},
		{name: "type of a user", principal: johnDoe, key: "aws:PrincipalType", want: "User"},
		{name: "type of a root", principal: ownerRoot, key: "aws:PrincipalType", want: "Account"},
		{name: "type of anonymous", principal: anonymous, key: "aws:PrincipalType", want: "Anonymous"},
		{name: "type of an assumed role", principal: Principal{AccountID: "111122223333", ARN: "arn:aws:sts::111122223333:assumed-role/r/s"},
			key: "aws:PrincipalType", want: "AssumedRole"},
		{name: "type of a federated user", principal: Principal{AccountID: "111122223333", ARN: "arn:aws:sts::111122223333:federated-user/f"},
			key: "aws:PrincipalType", want: "FederatedUser"},
		{name: "user name without its path", principal: pathUser, key: "aws:username", want: "Ana"},
		{name: "a root has no user name", principal: ownerRoot, key: "aws:username"},
		{name: "user ID of a root", principal: ownerRoot, key: "aws:userid", want: "111122223333"},
		{name: "a user's unique ID is not known", principal: johnDoe, key: "aws:userid"},
		{name: "a user is no AWS service", principal: johnDoe, key: "aws:PrincipalIsAWSService", want: "false"},
		{name: "a service is one", principal: logging, key: "aws:PrincipalIsAWSService", want: "true"},
		{name: "service name", principal: logging, key: "aws:PrincipalServiceName", want: "logging.s3.amazonaws.com"},
		{name: "anonymous has no account", principal: anonymous, key: "aws:PrincipalAccount"},
		{name: "the request's value wins", principal: johnDoe, key: "aws:username", context: ctx("AWS:UserName", "other"), want: "other"},
		{name: "an unknown key", principal: johnDoe, key: "aws:SourceIp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ec := &evalContext{req: &Request{Principal: tc.principal, Context: tc.context}}
			got := ec.values(tc.key)
			if tc.want == "" {
				if len(got) != 0 {
					t.Errorf("values(%q) = %q, want absent", tc.key, got)
				}
				return
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("values(%q) = %q, want [%q]", tc.key, got, tc.want)
			}
		})
	}
}
