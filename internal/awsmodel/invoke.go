package awsmodel

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// elbServiceAccounts are the accounts Elastic Load Balancing writes access
// logs from, by region (docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html):
// a bucket policy grants them, so the model must answer with the real ones.
var elbServiceAccounts = map[string]string{
	"us-east-1":      "127311923021",
	"ap-northeast-1": "582318560864",
	"ap-northeast-3": "383597477331",
}

// CallResult answers a data source the program reads, as AWS would in the
// model's account.
func CallResult(token, region string, args resource.PropertyMap) (resource.PropertyMap, error) {
	switch token {
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.NewPropertyMapFromMap(map[string]any{
			"accountId": AccountID,
			"arn":       "arn:aws:iam::" + AccountID + ":user/plan",
			"userId":    "AIDAPLAN",
			"id":        AccountID,
		}), nil
	case "aws:index/getRegion:getRegion":
		return resource.NewPropertyMapFromMap(map[string]any{"name": region, "id": region}), nil
	case "aws:index/getPartition:getPartition":
		return resource.NewPropertyMapFromMap(map[string]any{"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}), nil
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return resource.NewPropertyMapFromMap(map[string]any{
			"names": []any{region + "a", region + "c"}, "zoneIds": []any{"apne1-az4", "apne1-az1"}, "id": region,
		}), nil
	case "aws:ssm/getParameter:getParameter":
		name, _ := args["name"].V.(string)
		return resource.NewPropertyMapFromMap(map[string]any{
			"name": name, "id": name, "type": "String", "value": "ami-0123456789abcdef0", "insecureValue": "ami-0123456789abcdef0",
		}), nil
	case "aws:ec2/getAmi:getAmi":
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": "ami-0123456789abcdef0", "imageId": "ami-0123456789abcdef0",
			"arn": fmt.Sprintf("arn:aws:ec2:%s::image/ami-0123456789abcdef0", region), "architecture": "arm64",
		}), nil
	case "aws:route53/getZone:getZone":
		name, _ := args["name"].V.(string)
		return resource.NewPropertyMapFromMap(map[string]any{"id": "ZPLAN", "zoneId": "ZPLAN", "name": name}), nil
	case "aws:iam/getPolicyDocument:getPolicyDocument":
		return resource.NewPropertyMapFromMap(map[string]any{"id": "plan", "json": `{"Version":"2012-10-17","Statement":[]}`}), nil
	case "aws:elb/getServiceAccount:getServiceAccount":
		if r, ok := args["region"].V.(string); ok && r != "" {
			region = r
		}
		account, ok := elbServiceAccounts[region]
		if !ok {
			return nil, fmt.Errorf("awsmodel: no Elastic Load Balancing account for region %s; add it to elbServiceAccounts", region)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": account, "arn": "arn:aws:iam::" + account + ":root", "region": region,
		}), nil
	}
	return nil, fmt.Errorf("awsmodel: the program calls %s, which the model does not answer; add it to awsmodel.CallResult", token)
}
