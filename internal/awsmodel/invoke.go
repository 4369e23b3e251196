package awsmodel

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// elbServiceAccounts are the accounts Elastic Load Balancing writes access
// logs from, in the Regions that opened before August 2022
// (docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html):
// a bucket policy grants them, so the model must answer with the real ones.
// Later Regions have none and take the logdelivery.elasticloadbalancing.amazonaws.com
// service principal instead (the compute tier never asks there).
var elbServiceAccounts = map[string]string{
	"af-south-1":     "098369216593",
	"ap-east-1":      "754344448648",
	"ap-northeast-1": "582318560864",
	"ap-northeast-2": "600734575887",
	"ap-northeast-3": "383597477331",
	"ap-south-1":     "718504428378",
	"ap-southeast-1": "114774131450",
	"ap-southeast-2": "783225319266",
	"ap-southeast-3": "589379963580",
	"ca-central-1":   "985666609251",
	"cn-north-1":     "638102146993",
	"cn-northwest-1": "037604701340",
	"eu-central-1":   "054676820928",
	"eu-north-1":     "897822967062",
	"eu-south-1":     "635631232127",
	"eu-west-1":      "156460612806",
	"eu-west-2":      "652711504416",
	"eu-west-3":      "009996457667",
	"me-south-1":     "076674570225",
	"sa-east-1":      "507241528517",
	"us-east-1":      "127311923021",
	"us-east-2":      "033677994240",
	"us-gov-east-1":  "190560391635",
	"us-gov-west-1":  "048591011584",
	"us-west-1":      "027434742980",
	"us-west-2":      "797873946194",
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
			return nil, fmt.Errorf("awsmodel: Elastic Load Balancing has no access-log account in %s: a Region opened since August 2022 takes the logdelivery.elasticloadbalancing.amazonaws.com service principal", region)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": account, "arn": "arn:aws:iam::" + account + ":root", "region": region,
		}), nil
	}
	return nil, fmt.Errorf("awsmodel: the program calls %s, which the model does not answer; add it to awsmodel.CallResult", token)
}
