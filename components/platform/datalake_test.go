package platform_test

import (
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/datalake"
)

const (
	bucketType     = "aws:s3/bucketV2:BucketV2"
	versioningType = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	sseType        = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	pabType        = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	policyType     = "aws:s3/bucketPolicy:BucketPolicy"
	loggingType    = "aws:s3/bucketLoggingV2:BucketLoggingV2"
	lifecycleType  = "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"
	objectType     = "aws:s3/bucketObjectv2:BucketObjectv2"
)

func TestDataLake(t *testing.T) {
	for _, stack := range environments {
		t.Run(stack, func(t *testing.T) {
			rec := run(t, stack, nil)
			prod := stack == "prod"
			lake := named(t, rec, bucketType, "bucket", "cats-data-lake-"+stack)
			underTier(t, rec, lake, datalake.Type)
			id := lake.ID

			if v := configuring(rec, versioningType, "bucket", id); len(v) != 1 || str(in(v[0], "versioningConfiguration", "status")) != "Enabled" {
				t.Errorf("cats-data-lake must be versioned (seed §4 S3: バージョニング有効)")
			}
			sse := configuring(rec, sseType, "bucket", id)
			if len(sse) != 1 {
				t.Fatalf("cats-data-lake needs one encryption configuration, got %d", len(sse))
			}
			rule := in(sse[0], "rules").ArrayValue()[0]
			if alg := str(get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")); alg != "AES256" {
				t.Errorf("cats-data-lake must use SSE AES-256 by default (seed §4 S3), got %q", alg)
			}
			pab := configuring(rec, pabType, "bucket", id)
			if len(pab) != 1 {
				t.Fatalf("cats-data-lake needs a public access block")
			}
			for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
				if !boolean(in(pab[0], k)) {
					t.Errorf("public access block %s must be true: residents' reports are never public (DESIGN.md deviation 4)", k)
				}
			}
			policy := configuring(rec, policyType, "bucket", id)
			if len(policy) != 1 {
				t.Fatalf("cats-data-lake needs a bucket policy")
			}
			mustContain(t, policyJSON(policy[0]), `"aws:SecureTransport":"false"`, "the data lake policy must deny plain HTTP (FSBP S3.5)")

			logs := named(t, rec, bucketType, "bucket", "cats-data-lake-logs-"+stack)
			if l := configuring(rec, loggingType, "bucket", id); len(l) != 1 || str(in(l[0], "targetBucket")) != "cats-data-lake-logs-"+stack {
				t.Errorf("cats-data-lake must log access to cats-data-lake-logs-%s", stack)
			}
			if sse := configuring(rec, sseType, "bucket", logs.ID); len(sse) != 1 ||
				str(get(in(sse[0], "rules").ArrayValue()[0], "applyServerSideEncryptionByDefault", "sseAlgorithm")) != "AES256" {
				t.Errorf("the access-log bucket must use SSE-S3: S3 server access logging cannot deliver to SSE-KMS buckets")
			}
			logPolicy := policyJSON(configuring(rec, policyType, "bucket", logs.ID)[0])
			mustContain(t, logPolicy, "logging.s3.amazonaws.com", "the access-log bucket must let the S3 logging service write")
			mustContain(t, logPolicy, "arn:aws:s3:::cats-data-lake-"+stack, "only the data lake may deliver its logs (aws:SourceArn)")

			lc := configuring(rec, lifecycleType, "bucket", id)
			if len(lc) != 1 {
				t.Fatalf("cats-data-lake needs lifecycle rules")
			}
			var rawRule bool
			for _, r := range in(lc[0], "rules").ArrayValue() {
				if str(get(r, "filter", "prefix")) != datalake.RawPrefix {
					continue
				}
				rawRule = true
				tr := get(r, "transitions").ArrayValue()
				if len(tr) != 2 || str(get(tr[0], "storageClass")) != "STANDARD_IA" || num(get(tr[0], "days")) != 30 ||
					str(get(tr[1], "storageClass")) != "GLACIER_IR" {
					t.Errorf("raw/ must move to Standard-IA at 30 days, then Glacier IR: %v", tr)
				}
				if !get(r, "expiration").IsNull() {
					t.Errorf("raw/ data must never expire: it is the municipality's record")
				}
			}
			if !rawRule {
				t.Errorf("cats-data-lake needs a lifecycle rule for raw/")
			}

			var prefixes []string
			for _, o := range configuring(rec, objectType, "bucket", id) {
				prefixes = append(prefixes, o.Str("key"))
			}
			for _, p := range []string{"raw/", "curated/", "published/", "athena-results/"} {
				if !strings.Contains(strings.Join(prefixes, " "), p) {
					t.Errorf("the data lake must have the prefix %s (issue: raw/, curated/, published/, athena-results/), got %v", p, prefixes)
				}
			}

			// Prod data survives `pulumi destroy`; dev data goes with the stack.
			for _, b := range []string{"cats-data-lake-" + stack, "cats-data-lake-logs-" + stack} {
				r := named(t, rec, bucketType, "bucket", b)
				if r.RetainOnDelete != prod {
					t.Errorf("%s: retainOnDelete=%v, want %v (prod data is retained, dev data is not)", b, r.RetainOnDelete, prod)
				}
				if boolean(in(r, "forceDestroy")) == prod {
					t.Errorf("%s: forceDestroy must be %v in %s: prod buckets keep their objects", b, !prod, stack)
				}
			}
		})
	}
}

func TestDataLakeKMSIsSelectable(t *testing.T) {
	rec := run(t, "dev", map[string]string{"cats:dataLakeEncryption": "aws:kms"})
	lake := named(t, rec, bucketType, "bucket", "cats-data-lake-dev")
	sse := configuring(rec, sseType, "bucket", lake.ID)[0]
	def := get(in(sse, "rules").ArrayValue()[0], "applyServerSideEncryptionByDefault")
	if str(get(def, "sseAlgorithm")) != "aws:kms" || !strings.Contains(str(get(def, "kmsMasterKeyId")), "data-key") {
		t.Errorf("cats:dataLakeEncryption=aws:kms must encrypt the lake with the security tier's data key, got %v", def)
	}
	// Athena results and Firehose deliveries follow the lake's key.
	wg := rec.One(t, "aws:athena/workgroup:Workgroup")
	enc := in(wg, "configuration", "resultConfiguration", "encryptionConfiguration")
	if str(get(enc, "encryptionOption")) != "SSE_KMS" || !strings.Contains(str(get(enc, "kmsKeyArn")), "data-key") {
		t.Errorf("with aws:kms the Athena results must be SSE_KMS with the data key: %v", enc)
	}
	fh := rec.One(t, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
	if !strings.Contains(str(in(fh, "extendedS3Configuration", "kmsKeyArn")), "data-key") {
		t.Errorf("with aws:kms Firehose must write objects with the data key")
	}
	agg := named(t, rec, "aws:iam/rolePolicy:RolePolicy", "role", "cats-streaming-aggregator-role-id")
	mustContain(t, policyJSON(agg), "kms:GenerateDataKey", "with aws:kms the aggregator must be allowed to encrypt its objects")
}
