package rules

import (
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Encryption at rest (DESIGN.md, Policy pack): residents' reports about cats
// and the people who feed them are personal data (seed §8 セキュリティ).

var sseConfigTypes = []string{
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
	"aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
}

func encryptionRules() []Rule {
	return []Rule{
		{
			Name: "s3-bucket-encryption",
			Description: "Every S3 bucket has default server-side encryption (seed §4 S3: SSE AES-256). " +
				"In pulumi-aws v6 it lives on a separate resource, so the rule links each bucket to its configuration.",
			Control: "FSBP S3.4 (S3.17 with requireKms)",
			Level:   policyx.EnforcementLevelMandatory,
			Properties: map[string]map[string]any{
				"requireKms": {"type": "boolean", "default": false,
					"description": "Require SSE-KMS (aws:kms or aws:kms:dsse) instead of accepting SSE-S3 AES-256."},
			},
			Stack: func(c *Check, rs []policyx.AnalyzerResource) {
				allowed := []string{"AES256", "aws:kms", "aws:kms:dsse"}
				if c.Config.Bool("requireKms") {
					allowed = []string{"aws:kms", "aws:kms:dsse"}
				}
				algorithmOK := func(v val) (string, *val) {
					if v.unknown {
						return "", &v
					}
					s, _ := v.str()
					if !slices.Contains(allowed, s) {
						return "SSE algorithm " + quote(s) + " is not one of " + strings.Join(allowed, ", "), nil
					}
					return "", nil
				}
				bucketsWith(c, rs, sseConfigTypes,
					func(b policyx.AnalyzerResource) (bool, *val) {
						// The deprecated inline blocks still count when set: BucketV2's
						// serverSideEncryptionConfigurations[].rules[].applyServerSideEncryptionByDefaults[]
						// and the v5 Bucket's serverSideEncryptionConfiguration.rule.
						var defaults []val
						configs, _ := get(b.Properties, "serverSideEncryptionConfigurations").items()
						for _, cfg := range configs {
							rules, _ := cfg.at("rules").items()
							for _, r := range rules {
								ds, _ := r.at("applyServerSideEncryptionByDefaults").items()
								defaults = append(defaults, ds...)
							}
						}
						rules, _ := get(b.Properties, "serverSideEncryptionConfiguration", "rule").items()
						for _, r := range rules {
							defaults = append(defaults, r.at("applyServerSideEncryptionByDefault"))
						}
						for _, d := range defaults {
							if p, unk := algorithmOK(d.at("sseAlgorithm")); p == "" && unk == nil {
								return true, nil
							}
						}
						return false, nil
					},
					func(cfg policyx.AnalyzerResource) (string, *val) {
						rules, unknown := get(cfg.Properties, "rules").items()
						if unknown {
							v := get(cfg.Properties, "rules")
							return "", &v
						}
						if len(rules) == 0 {
							rules, _ = get(cfg.Properties, "rule").items()
						}
						if len(rules) == 0 {
							return "the encryption configuration has no rule", nil
						}
						for _, r := range rules {
							if p, unk := algorithmOK(r.at("applyServerSideEncryptionByDefault", "sseAlgorithm")); p != "" || unk != nil {
								return p, unk
							}
						}
						return "", nil
					},
					"no server-side encryption configuration refers to it")
			},
		},
		{
			Name: "dynamodb-table-encryption",
			Description: "DynamoDB tables (cats-info, seed §4) are encrypted with a customer managed KMS key " +
				"(serverSideEncryption.enabled and its kmsKeyArn; the AWS owned and AWS managed keys are not the account's to audit or revoke).",
			Control: "AWS Config DYNAMODB_TABLE_ENCRYPTED_KMS (FSBP has no table-level control)",
			Level:   policyx.EnforcementLevelMandatory,
			Types:   []string{"aws:dynamodb/table:Table"},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				if !requireSSE(c, r, "table", " (an AWS-owned key is not auditable)") {
					return
				}
				key := get(r.Properties, "serverSideEncryption", "kmsKeyArn")
				switch {
				case key.unknown:
					c.Unknown(r.URN, key, "table "+display(r))
				case !key.nonEmpty() || strings.HasSuffix(strOr(key, ""), "alias/aws/dynamodb"):
					c.Fail(r.URN, "table %s: serverSideEncryption.kmsKeyArn must name a customer managed key (without it DynamoDB uses the AWS managed aws/dynamodb key)", display(r))
				}
			},
		},
		{
			Name:        "kinesis-stream-encryption",
			Description: "Kinesis data streams (cats-data-stream's source) are encrypted at rest with KMS.",
			Control:     "FSBP Kinesis.1",
			Level:       policyx.EnforcementLevelMandatory,
			Types:       []string{"aws:kinesis/stream:Stream"},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				typ, key := get(r.Properties, "encryptionType"), get(r.Properties, "kmsKeyId")
				switch {
				case typ.unknown:
					c.Unknown(r.URN, typ, "stream "+display(r))
				case !strEq(typ, "KMS"):
					c.Fail(r.URN, "stream %s: encryptionType must be KMS", display(r))
				case key.unknown:
					c.Unknown(r.URN, key, "stream "+display(r))
				case !key.nonEmpty():
					c.Fail(r.URN, "stream %s: kmsKeyId must name the key", display(r))
				}
			},
		},
		{
			Name: "firehose-encryption",
			Description: "Firehose delivery streams (cats-data-stream, seed §4) encrypt at rest; a stream fed by a " +
				"Kinesis data stream is encrypted at its source (Firehose cannot add SSE there).",
			Control: "FSBP DataFirehose.1",
			Level:   policyx.EnforcementLevelMandatory,
			Types:   []string{"aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				source := get(r.Properties, "kinesisSourceConfiguration")
				if source.unknown {
					c.Unknown(r.URN, source, "delivery stream "+display(r))
					return
				}
				if source.present() {
					return // kinesis-stream-encryption checks the source stream
				}
				_ = requireSSE(c, r, "delivery stream", "")
			},
		},
		{
			Name:        "log-group-encryption",
			Description: "CloudWatch Logs groups are encrypted with the stack's logs KMS key (logs may carry request data).",
			Control:     "AWS Config CLOUDWATCH_LOG_GROUP_ENCRYPTED (FSBP has no log group control)",
			Level:       policyx.EnforcementLevelMandatory,
			Types:       []string{"aws:cloudwatch/logGroup:LogGroup"},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				requireKey(c, r, "kmsKeyId", "log group")
			},
		},
		{
			Name:        "sns-topic-encryption",
			Description: "SNS topics (the alarm topic) are encrypted at rest with KMS.",
			Control:     "FSBP SNS.1",
			Level:       policyx.EnforcementLevelMandatory,
			Types:       []string{"aws:sns/topic:Topic"},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				requireKey(c, r, "kmsMasterKeyId", "topic")
			},
		},
		{
			Name: "athena-workgroup-encryption",
			Description: "Athena workgroups encrypt query results and enforce the workgroup configuration, " +
				"so a query cannot write unencrypted results elsewhere.",
			Control: "FSBP Athena.1",
			Level:   policyx.EnforcementLevelMandatory,
			Types:   []string{"aws:athena/workgroup:Workgroup"},
			Resource: func(c *Check, r policyx.AnalyzerResource) {
				option := get(r.Properties, "configuration", "resultConfiguration", "encryptionConfiguration", "encryptionOption")
				enforce := get(r.Properties, "configuration", "enforceWorkgroupConfiguration")
				switch {
				case option.unknown:
					c.Unknown(r.URN, option, "workgroup "+display(r))
				case !strIn(option, "SSE_S3", "SSE_KMS", "CSE_KMS"):
					c.Fail(r.URN, "workgroup %s: configuration.resultConfiguration.encryptionConfiguration.encryptionOption must be SSE_S3, SSE_KMS or CSE_KMS", display(r))
				case enforce.unknown:
					c.Unknown(r.URN, enforce, "workgroup "+display(r))
				case enforce.present() && !enforce.isTrue():
					c.Fail(r.URN, "workgroup %s: configuration.enforceWorkgroupConfiguration must not be false (clients could override the encryption)", display(r))
				}
			},
		},
		{
			Name: "ebs-encryption",
			Description: "EBS volumes, instance and launch template block devices are encrypted, the root volume included; a template " +
				"or instance that relies on the AMI's devices needs account-wide EBS encryption by default in the stack.",
			Control: "FSBP EC2.3 / EC2.7, CIS 2.2.1",
			Level:   policyx.EnforcementLevelMandatory,
			Properties: map[string]map[string]any{
				"rootDeviceNames": {"type": "array", "items": map[string]any{"type": "string"}, "default": []any{"/dev/xvda", "/dev/sda1"},
					"description": "Device names an AMI's root volume uses (Amazon Linux /dev/xvda, Ubuntu /dev/sda1)."},
			},
			Stack: ebsEncryption,
		},
	}
}

func ebsEncryption(c *Check, rs []policyx.AnalyzerResource) {
	rootDevices := c.Config.Strings("rootDeviceNames")
	byDefault := false
	for _, r := range rs {
		if typeIs(r, "aws:ebs/encryptionByDefault:EncryptionByDefault") {
			if e := get(r.Properties, "enabled"); !e.present() || e.isTrue() {
				byDefault = true
			}
		}
	}
	device := func(r policyx.AnalyzerResource, v val, what string) {
		enc := v.at("encrypted")
		switch {
		case enc.unknown:
			c.Unknown(r.URN, enc, what)
		case enc.isTrue():
		case !enc.present() && byDefault:
		default:
			c.Fail(r.URN, "%s: %s.encrypted must be true", what, v.path)
		}
	}
	for _, r := range rs {
		switch r.Type {
		case "aws:ebs/volume:Volume":
			device(r, val{v: propertyOf(r), path: "volume"}, "volume "+display(r))
		case "aws:ec2/launchTemplate:LaunchTemplate":
			mappings, unknown := get(r.Properties, "blockDeviceMappings").items()
			if unknown {
				c.Unknown(r.URN, get(r.Properties, "blockDeviceMappings"), "launch template "+display(r))
				continue
			}
			withEBS, root := 0, false
			for _, m := range mappings {
				if ebs := m.at("ebs"); ebs.present() || ebs.unknown {
					withEBS++
					device(r, ebs, "launch template "+display(r))
					name := m.at("deviceName")
					root = root || name.unknown || strIn(name, rootDevices...)
				}
			}
			switch {
			case byDefault:
			case withEBS == 0:
				c.Fail(r.URN, "launch template %s: no block device mapping sets encrypted, and the stack does not enable EBS encryption by default (aws:ebs/encryptionByDefault)", display(r))
			case !root:
				c.Fail(r.URN, "launch template %s: no block device mapping covers the root volume (%s), so it comes unencrypted from the AMI; map it with encrypted true or enable EBS encryption by default",
					display(r), strings.Join(rootDevices, " or "))
			}
		case "aws:ec2/instance:Instance":
			root := get(r.Properties, "rootBlockDevice")
			if root.present() || root.unknown {
				device(r, root, "instance "+display(r))
			} else if !byDefault {
				c.Fail(r.URN, "instance %s: rootBlockDevice.encrypted is not set and the stack does not enable EBS encryption by default", display(r))
			}
			devices, _ := get(r.Properties, "ebsBlockDevices").items()
			for _, d := range devices {
				device(r, d, "instance "+display(r))
			}
		}
	}
}

// requireKey fails a resource whose key property is not set to a key.
func requireKey(c *Check, r policyx.AnalyzerResource, prop, what string) {
	key := get(r.Properties, prop)
	switch {
	case key.unknown:
		c.Unknown(r.URN, key, what+" "+display(r))
	case !key.nonEmpty():
		c.Fail(r.URN, "%s %s: %s must name the stack's KMS key", what, display(r), prop)
	}
}

// requireSSE checks serverSideEncryption.enabled, the switch DynamoDB and
// Firehose share; why is added to the failure.
// It reports whether encryption is on.
func requireSSE(c *Check, r policyx.AnalyzerResource, what, why string) bool {
	enabled := get(r.Properties, "serverSideEncryption", "enabled")
	switch {
	case enabled.unknown:
		c.Unknown(r.URN, enabled, what+" "+display(r))
	case !enabled.isTrue():
		c.Fail(r.URN, "%s %s: serverSideEncryption.enabled must be true%s", what, display(r), why)
	default:
		return true
	}
	return false
}

func strEq(v val, want string) bool {
	s, ok := v.str()
	return ok && s == want
}

func strIn(v val, want ...string) bool {
	s, ok := v.str()
	return ok && slices.Contains(want, s)
}

func quote(s string) string { return "\"" + s + "\"" }
