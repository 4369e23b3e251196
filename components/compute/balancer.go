package compute

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/wafv2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/storage"
)

// balancer is the internet-facing ALB in front of the service.
type balancer struct {
	alb     *lb.LoadBalancer
	targets *lb.TargetGroup
	// listeners are what the service waits for: its tasks register only
	// once the target group is attached to a listener.
	listeners []pulumi.Resource
	url       pulumi.StringOutput
}

// loadBalancer is the internet-facing ALB with its logs, target group,
// listeners and WAF.
func loadBalancer(ctx *pulumi.Context, name string, args Args, owner pulumi.Resource) (*balancer, error) {
	parent := pulumi.Parent(owner)
	logs, err := accessLogBucket(ctx, name, args, owner)
	if err != nil {
		return nil, err
	}
	alb, err := lb.NewLoadBalancer(ctx, name+"-alb", &lb.LoadBalancerArgs{
		Name:                     pulumi.String(args.Namer.PerStack("cats-alb")),
		LoadBalancerType:         pulumi.String("application"),
		Internal:                 pulumi.Bool(false),
		Subnets:                  args.PublicSubnetIDs,
		SecurityGroups:           pulumi.StringArray{args.ALBSecurityGroupID},
		DropInvalidHeaderFields:  pulumi.Bool(true),      // FSBP ELB.4
		EnableDeletionProtection: pulumi.Bool(args.Prod), // FSBP ELB.6, prod only so dev can be torn down
		AccessLogs: &lb.LoadBalancerAccessLogsArgs{ // FSBP ELB.5
			Bucket:  logs.Bucket.Bucket,
			Prefix:  pulumi.String(albLogPrefix),
			Enabled: pulumi.Bool(true),
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{logs.Policy}))
	if err != nil {
		return nil, fmt.Errorf("create the load balancer: %w", err)
	}
	b := &balancer{alb: alb}
	if b.targets, err = targetGroup(ctx, name, args, parent); err != nil {
		return nil, err
	}
	if args.Domain == nil {
		err = b.httpListener(ctx, name, parent)
	} else {
		err = b.httpsListeners(ctx, name, args.Domain, parent)
	}
	if err != nil {
		return nil, err
	}
	if _, err := wafv2.NewWebAclAssociation(ctx, name+"-alb-waf", &wafv2.WebAclAssociationArgs{
		ResourceArn: alb.Arn,
		WebAclArn:   args.RegionalWebACLArn, // seed §7 WAF
	}, parent); err != nil {
		return nil, fmt.Errorf("put the load balancer behind the web ACL: %w", err)
	}
	return b, nil
}

// targetGroup holds the service's tasks, by IP (awsvpc), health-checked on /.
func targetGroup(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (*lb.TargetGroup, error) {
	group, err := lb.NewTargetGroup(ctx, name+"-targets", &lb.TargetGroupArgs{
		Name:                pulumi.String(args.Namer.PerStack("cats-app")),
		TargetType:          pulumi.String("ip"), // awsvpc tasks register by IP
		Protocol:            pulumi.String("HTTP"),
		Port:                pulumi.Int(args.Compute.ContainerPort),
		VpcId:               args.VPCID,
		DeregistrationDelay: pulumi.Int(30),
		HealthCheck: &lb.TargetGroupHealthCheckArgs{
			Path: pulumi.String("/"), Matcher: pulumi.String("200-399"), Interval: pulumi.Int(15),
			HealthyThreshold: pulumi.Int(2), UnhealthyThreshold: pulumi.Int(3),
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the target group: %w", err)
	}
	return group, nil
}

func (b *balancer) forward() lb.ListenerDefaultActionArray {
	return lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{Type: pulumi.String("forward"), TargetGroupArn: b.targets.Arn}}
}

// httpListener serves HTTP on the balancer's own name: without a domain
// there is no certificate.
func (b *balancer) httpListener(ctx *pulumi.Context, name string, parent pulumi.ResourceOption) error {
	http, err := lb.NewListener(ctx, name+"-http", &lb.ListenerArgs{
		LoadBalancerArn: b.alb.Arn, Port: pulumi.Int(80), Protocol: pulumi.String("HTTP"), DefaultActions: b.forward(),
	}, parent)
	if err != nil {
		return fmt.Errorf("create the HTTP listener: %w", err)
	}
	b.listeners = []pulumi.Resource{http}
	b.url = pulumi.Sprintf("http://%s", b.alb.DnsName)
	return nil
}

// httpsListeners serve HTTPS on the stack's domain, redirect HTTP to it and
// point the domain's name at the balancer.
func (b *balancer) httpsListeners(ctx *pulumi.Context, name string, domain *AppDomain, parent pulumi.ResourceOption) error {
	https, err := lb.NewListener(ctx, name+"-https", &lb.ListenerArgs{
		LoadBalancerArn: b.alb.Arn, Port: pulumi.Int(443), Protocol: pulumi.String("HTTPS"),
		SslPolicy: pulumi.String(TLSPolicy), CertificateArn: domain.CertificateArn, DefaultActions: b.forward(),
	}, parent)
	if err != nil {
		return fmt.Errorf("create the HTTPS listener: %w", err)
	}
	redirect, err := lb.NewListener(ctx, name+"-http-redirect", &lb.ListenerArgs{
		LoadBalancerArn: b.alb.Arn, Port: pulumi.Int(80), Protocol: pulumi.String("HTTP"),
		DefaultActions: lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{
			Type: pulumi.String("redirect"),
			Redirect: &lb.ListenerDefaultActionRedirectArgs{
				Protocol: pulumi.String("HTTPS"), Port: pulumi.String("443"), StatusCode: pulumi.String("HTTP_301"),
			},
		}},
	}, parent)
	if err != nil {
		return fmt.Errorf("create the HTTP to HTTPS redirect: %w", err)
	}
	b.listeners = []pulumi.Resource{https, redirect}
	if _, err := route53.NewRecord(ctx, name+"-app-record", &route53.RecordArgs{
		ZoneId: domain.ZoneID,
		Name:   pulumi.String(domain.Hostname),
		Type:   pulumi.String("A"),
		Aliases: route53.RecordAliasArray{&route53.RecordAliasArgs{
			Name: b.alb.DnsName, ZoneId: b.alb.ZoneId, EvaluateTargetHealth: pulumi.Bool(true),
		}},
	}, parent); err != nil {
		return fmt.Errorf("point %s at the load balancer: %w", domain.Hostname, err)
	}
	b.url = pulumi.String("https://" + domain.Hostname).ToStringOutput()
	return nil
}

const albLogPrefix = "alb"

// elbAccountRegions are the Regions that opened before August 2022. There
// Elastic Load Balancing writes an ALB's access logs as an account of its own
// in each Region, which the provider knows (elb.GetServiceAccount); in every
// Region opened since, it writes them as the log-delivery service principal
// (docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html,
// "Attach a policy to your S3 bucket"). The set is closed, so a Region AWS
// opens later needs no change here: it gets the service principal.
var elbAccountRegions = []string{
	"af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ca-central-1", "cn-north-1", "cn-northwest-1",
	"eu-central-1", "eu-north-1", "eu-south-1", "eu-west-1", "eu-west-2", "eu-west-3", "me-south-1",
	"sa-east-1", "us-east-1", "us-east-2", "us-gov-east-1", "us-gov-west-1", "us-west-1", "us-west-2",
}

// ELBLogDeliveryService is the service principal that writes access logs in
// the Regions opened since August 2022.
const ELBLogDeliveryService = "logdelivery.elasticloadbalancing.amazonaws.com"

// albLogWriter is the principal AWS documents as the writer of a Region's ALB
// access logs: the Region's Elastic Load Balancing account where there is one,
// else the log-delivery service principal.
func albLogWriter(ctx *pulumi.Context, region string, opts ...pulumi.InvokeOption) (map[string]any, error) {
	if !slices.Contains(elbAccountRegions, region) {
		return map[string]any{"Service": ELBLogDeliveryService}, nil
	}
	account, err := elb.GetServiceAccount(ctx, &elb.GetServiceAccountArgs{Region: &region}, opts...)
	if err != nil {
		return nil, fmt.Errorf("look up the Elastic Load Balancing account of %s: %w", region, err)
	}
	return map[string]any{"AWS": account.Arn}, nil
}

// accessLogBucket is the private bucket the ALB writes its access logs to.
// ALB log delivery supports only SSE-S3, so it is AES-256.
func accessLogBucket(ctx *pulumi.Context, name string, args Args, owner pulumi.Resource) (*storage.PrivateBucket, error) {
	bucketName, err := args.Namer.Global("cats-alb-logs")
	if err != nil {
		return nil, fmt.Errorf("name the access log bucket: %w", err)
	}
	writer, err := albLogWriter(ctx, args.Region, pulumi.Parent(owner))
	if err != nil {
		return nil, fmt.Errorf("access log bucket: %w", err)
	}
	bucket, err := storage.NewPrivateBucket(ctx, name+"-alb-logs", storage.PrivateBucketArgs{
		BucketName: bucketName,
		Retain:     args.Prod,
		Parent:     owner,
		PolicyStatements: func(arn pulumi.StringOutput) []iamdoc.Statement {
			return []iamdoc.Statement{ALBLogStatement(arn, writer, args.AccountID)}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create the access log bucket: %w", err)
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-alb-logs-lifecycle", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.Bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{&s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:         pulumi.String("expire-access-logs"),
			Status:     pulumi.String("Enabled"),
			Filter:     &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String(albLogPrefix + "/")},
			Expiration: &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(args.LogRetentionDays)},
			NoncurrentVersionExpiration: &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
				NoncurrentDays: pulumi.Int(7),
			},
		}},
	}, pulumi.Parent(owner)); err != nil {
		return nil, fmt.Errorf("expire old access logs: %w", err)
	}
	return bucket, nil
}

// ALBLogStatement lets the Region's log writer put the access logs under the
// stack's prefix, and nothing else.
func ALBLogStatement(bucketArn pulumi.StringOutput, writer map[string]any, accountID string) iamdoc.Statement {
	return iamdoc.Statement{
		Sid:       "ElbLogDeliveryWrite",
		Principal: writer,
		Actions:   []string{"s3:PutObject"},
		Resources: []pulumi.StringInput{pulumi.Sprintf("%s/%s/AWSLogs/%s/*", bucketArn, albLogPrefix, accountID)},
	}
}
