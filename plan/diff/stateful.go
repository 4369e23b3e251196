package diff

import "strings"

// StatefulRole is a resource that holds data: replacing or deleting it loses
// the data unless it is copied first, so a report calls it out at the top.
type StatefulRole struct {
	Role string
	Type string
	// Tier and NameSuffix narrow the type to the resource of this role
	// ("" matches any).
	Tier, NameSuffix string
	// Loss says what is lost.
	Loss string
}

// StatefulRoles is the one list of resources whose replacement or deletion
// loses data. A test checks that each role still finds its resources in the
// plans, so a renamed resource cannot silently drop out of it.
var StatefulRoles = []StatefulRole{
	{Role: "the data lake bucket", Type: "aws:s3/bucketV2:BucketV2", Tier: "datalake", NameSuffix: "-datalake-bucket",
		Loss: "residents' reports and every curated and published dataset (seed §4 S3 cats-data-lake)"},
	{Role: "cats-info", Type: "aws:dynamodb/table:Table", Tier: "database",
		Loss: "every cat record (seed §4 DynamoDB cats-info)"},
	{Role: "a KMS key", Type: "aws:kms/key:Key",
		Loss: "whatever is encrypted under the key cannot be decrypted once AWS deletes it"},
	{Role: "the trail bucket", Type: "aws:s3/bucketV2:BucketV2", Tier: "security", NameSuffix: "-trail-bucket",
		Loss: "the CloudTrail audit log"},
}

// Stateful returns the role of a resource that holds data, "" for one that
// holds none.
func Stateful(r Resource) string {
	for _, role := range StatefulRoles {
		if r.Type == role.Type && (role.Tier == "" || r.Tier == role.Tier) &&
			(role.NameSuffix == "" || strings.HasSuffix(r.Name, role.NameSuffix)) {
			return role.Role
		}
	}
	return ""
}
