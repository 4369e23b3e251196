package awsmodel

import "slices"

// forceNew lists, per resource type the program uses, the input properties
// AWS cannot change in place: a change replaces the resource. It is a subset
// of the AWS provider's schema (the Terraform provider's ForceNew flags): the
// top-level properties this program sets, and only those whose flag is
// certain; a type or property missing here is updated in place. It serves the
// stand-in provider's Diff, and can serve an offline diff of two plans.
var forceNew = map[string][]string{
	"aws:acm/certificate:Certificate":                                      {"domainName", "subjectAlternativeNames", "validationMethod", "keyAlgorithm"},
	"aws:acm/certificateValidation:CertificateValidation":                  {"certificateArn", "validationRecordFqdns"},
	"aws:apigateway/deployment:Deployment":                                 {"restApi", "triggers"},
	"aws:apigateway/integration:Integration":                               {"restApi", "resourceId", "httpMethod"},
	"aws:apigateway/integrationResponse:IntegrationResponse":               {"restApi", "resourceId", "httpMethod", "statusCode"},
	"aws:apigateway/method:Method":                                         {"restApi", "resourceId", "httpMethod"},
	"aws:apigateway/methodResponse:MethodResponse":                         {"restApi", "resourceId", "httpMethod", "statusCode"},
	"aws:apigateway/methodSettings:MethodSettings":                         {"restApi", "stageName", "methodPath"},
	"aws:apigateway/resource:Resource":                                     {"restApi"},
	"aws:apigateway/stage:Stage":                                           {"restApi", "stageName"},
	"aws:appautoscaling/policy:Policy":                                     {"name", "resourceId", "scalableDimension", "serviceNamespace"},
	"aws:appautoscaling/target:Target":                                     {"resourceId", "scalableDimension", "serviceNamespace"},
	"aws:athena/dataCatalog:DataCatalog":                                   {"name"},
	"aws:athena/namedQuery:NamedQuery":                                     {"name", "query", "database", "workgroup", "description"},
	"aws:athena/workgroup:Workgroup":                                       {"name"},
	"aws:autoscaling/group:Group":                                          {"name", "namePrefix"},
	"aws:cfg/deliveryChannel:DeliveryChannel":                              {"name"},
	"aws:cfg/recorder:Recorder":                                            {"name"},
	"aws:cfg/recorderStatus:RecorderStatus":                                {"name"},
	"aws:cfg/rule:Rule":                                                    {"name"},
	"aws:cloudtrail/trail:Trail":                                           {"name"},
	"aws:cloudwatch/logGroup:LogGroup":                                     {"name", "namePrefix"},
	"aws:cloudwatch/logStream:LogStream":                                   {"name", "logGroupName"},
	"aws:dynamodb/table:Table":                                             {"name", "hashKey", "rangeKey"},
	"aws:ec2/eip:Eip":                                                      {"domain"},
	"aws:ec2/flowLog:FlowLog":                                              {"vpcId", "trafficType", "logDestination", "logDestinationType", "iamRoleArn"},
	"aws:ec2/launchTemplate:LaunchTemplate":                                {"name", "namePrefix"},
	"aws:ec2/natGateway:NatGateway":                                        {"subnetId", "allocationId", "connectivityType"},
	"aws:ec2/networkAcl:NetworkAcl":                                        {"vpcId"},
	"aws:ec2/route:Route":                                                  {"routeTableId", "destinationCidrBlock"},
	"aws:ec2/routeTable:RouteTable":                                        {"vpcId"},
	"aws:ec2/routeTableAssociation:RouteTableAssociation":                  {"subnetId", "gatewayId"},
	"aws:ec2/securityGroup:SecurityGroup":                                  {"name", "namePrefix", "vpcId", "description"},
	"aws:ec2/subnet:Subnet":                                                {"vpcId", "cidrBlock", "availabilityZone"},
	"aws:ec2/vpc:Vpc":                                                      {"cidrBlock"},
	"aws:ec2/vpcEndpoint:VpcEndpoint":                                      {"vpcId", "serviceName", "vpcEndpointType"},
	"aws:ecs/capacityProvider:CapacityProvider":                            {"name"},
	"aws:ecs/cluster:Cluster":                                              {"name"},
	"aws:ecs/clusterCapacityProviders:ClusterCapacityProviders":            {"clusterName"},
	"aws:ecs/service:Service":                                              {"name", "cluster"},
	"aws:ecs/taskDefinition:TaskDefinition":                                {"family", "containerDefinitions", "cpu", "memory", "networkMode", "executionRoleArn", "taskRoleArn", "requiresCompatibilities", "runtimePlatform"},
	"aws:glue/catalogDatabase:CatalogDatabase":                             {"name", "catalogId"},
	"aws:glue/catalogTable:CatalogTable":                                   {"name", "databaseName", "catalogId"},
	"aws:iam/instanceProfile:InstanceProfile":                              {"name", "namePrefix", "path"},
	"aws:iam/role:Role":                                                    {"name", "namePrefix", "path"},
	"aws:iam/rolePolicy:RolePolicy":                                        {"name", "namePrefix", "role"},
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment":                    {"role", "policyArn"},
	"aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream":            {"name", "destination"},
	"aws:kinesis/stream:Stream":                                            {"name"},
	"aws:kms/alias:Alias":                                                  {"name", "namePrefix"},
	"aws:kms/key:Key":                                                      {"customerMasterKeySpec", "keyUsage"},
	"aws:kms/keyPolicy:KeyPolicy":                                          {"keyId"},
	"aws:lambda/eventSourceMapping:EventSourceMapping":                     {"eventSourceArn", "startingPosition"},
	"aws:lambda/function:Function":                                         {"name", "packageType"},
	"aws:lambda/permission:Permission":                                     {"action", "function", "principal", "qualifier", "sourceAccount", "sourceArn", "statementId"},
	"aws:lb/listener:Listener":                                             {"loadBalancerArn"},
	"aws:lb/loadBalancer:LoadBalancer":                                     {"name", "namePrefix", "internal", "loadBalancerType"},
	"aws:lb/targetGroup:TargetGroup":                                       {"name", "namePrefix", "port", "protocol", "vpcId", "targetType"},
	"aws:route53/record:Record":                                            {"zoneId", "name"},
	"aws:route53/zone:Zone":                                                {"name"},
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2": {"bucket", "expectedBucketOwner"},
	"aws:s3/bucketLoggingV2:BucketLoggingV2":                               {"bucket", "expectedBucketOwner"},
	"aws:s3/bucketObjectv2:BucketObjectv2":                                 {"bucket", "key"},
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls":               {"bucket"},
	"aws:s3/bucketPolicy:BucketPolicy":                                     {"bucket"},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":               {"bucket"},
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": {"bucket", "expectedBucketOwner"},
	"aws:s3/bucketV2:BucketV2":                                        {"bucket", "bucketPrefix", "objectLockEnabled"},
	"aws:s3/bucketVersioningV2:BucketVersioningV2":                    {"bucket", "expectedBucketOwner"},
	"aws:sns/topic:Topic":                                             {"name", "namePrefix", "fifoTopic"},
	"aws:sns/topicPolicy:TopicPolicy":                                 {"arn"},
	"aws:wafv2/webAcl:WebAcl":                                         {"name", "scope"},
	"aws:wafv2/webAclAssociation:WebAclAssociation":                   {"resourceArn", "webAclArn"},
	"aws:cloudwatch/logDelivery:LogDelivery":                          {"deliveryDestinationArn", "deliverySourceName"},
	"aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination":    {"name"},
	"aws:cloudwatch/logDeliverySource:LogDeliverySource":              {"name", "logType", "resourceArn"},
	"aws:cloudwatch/logMetricFilter:LogMetricFilter":                  {"name", "logGroupName"},
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":               {"vpcId"},
	"aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock":        {"accountId"},
	"aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": {"resourceArn"},
}

// ForcesReplacement reports whether changing the property replaces a
// resource of the type.
func ForcesReplacement(token, property string) bool {
	return slices.Contains(forceNew[token], property)
}

// physicalName is the property that holds a resource's name in AWS, where it
// is not "name". While it is set, a replacement must delete the old resource
// first: AWS refuses a second resource with the same name.
var physicalName = map[string]string{
	"aws:s3/bucketV2:BucketV2": "bucket",
	"aws:s3/bucket:Bucket":     "bucket",
}

// PhysicalNameProperty is the property of a type that names the resource in
// AWS ("name" unless physicalName says otherwise).
func PhysicalNameProperty(token string) string {
	if p, ok := physicalName[token]; ok {
		return p
	}
	return "name"
}

// ForceNewTable returns a copy of the replacement table, by type.
func ForceNewTable() map[string][]string {
	out := make(map[string][]string, len(forceNew))
	for k, v := range forceNew {
		out[k] = slices.Clone(v)
	}
	return out
}
