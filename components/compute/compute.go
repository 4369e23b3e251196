// Package compute is the compute tier (seed §4 EC2/ECS, §6): an ECS cluster on
// EC2 hosts (t3.medium) in the private subnets, scaled 2–10 by an Auto Scaling
// group that is the cluster's capacity provider, running the application's
// Docker task as a service spread over both availability zones behind an
// internet-facing Application Load Balancer in the public subnets.
//
// The load balancer is built from pulumi-aws resources rather than awsx's
// ApplicationLoadBalancer: the tier needs the listener pair that depends on a
// certificate, access logs to its own bucket, deletion protection and a WAF
// association on the balancer's ARN, all of which awsx would hide behind its
// own defaults (and its own security group, where the network tier's is meant).
package compute

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/autoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/wafv2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/storage"
)

// Type is the component's type token.
const Type = "cats:compute:Compute"

// ImageParameter is the SSM parameter AWS publishes the current ECS-optimised
// Amazon Linux 2023 AMI under; the launch template resolves it at launch, so
// hosts always start from a patched image.
const ImageParameter = "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"

// TLSPolicy is the HTTPS listener's policy: TLS 1.3 and 1.2 only.
const TLSPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// Task size: a t3.medium (2 vCPU, 4 GiB) holds two tasks; awsvpc tasks each
// take one of its three network interfaces.
const (
	TaskCPU       = 512  // CPU units
	TaskMemory    = 1024 // MiB
	TasksPerHost  = 2
	containerName = "app"
)

// Scaling: tasks follow CPU, and the capacity provider adds or removes hosts
// to fit the tasks.
const (
	TaskCPUTarget         = 60.0 // % average service CPU that task scaling holds
	CapacityTargetPercent = 100  // hosts the capacity provider keeps fully used
)

// AppDomain is the application's name on the stack's domain (edge tier).
type AppDomain struct {
	ZoneID   pulumi.StringInput
	Hostname string // e.g. app.cats.example.com
	// CertificateArn is a validated ACM certificate for Hostname in the stack's region.
	CertificateArn pulumi.StringInput
}

// Args configures the tier.
type Args struct {
	// Mandatory.
	Namer              naming.Namer
	AccountID          string
	Region             string
	Compute            config.Compute // instance type, 2–10, image, port (validated by config.Parse)
	VPCID              pulumi.StringInput
	PublicSubnetIDs    pulumi.StringArrayInput // the ALB
	PrivateSubnetIDs   pulumi.StringArrayInput // the hosts and tasks
	ALBSecurityGroupID pulumi.StringInput
	AppSecurityGroupID pulumi.StringInput // cats-app-sg
	RegionalWebACLArn  pulumi.StringInput
	LogsKeyArn         pulumi.StringInput
	// InstanceTags are the stack's standard tags, copied onto the hosts and
	// their volumes, which the launch template creates (not Pulumi).
	InstanceTags map[string]string

	LogRetentionDays int // cats:logRetentionDays (config.Parse)

	// Optional.
	// Prod turns on the balancer's deletion protection and keeps its logs.
	Prod bool
	// Domain serves HTTPS on the stack's domain and redirects HTTP to it; nil
	// serves HTTP on the balancer's own DNS name (no certificate can exist).
	Domain *AppDomain
}

// Compute is the compute tier.
type Compute struct {
	pulumi.ResourceState

	ClusterName      pulumi.StringOutput `pulumi:"clusterName"`
	ServiceName      pulumi.StringOutput `pulumi:"serviceName"`
	AutoScalingGroup pulumi.StringOutput `pulumi:"autoScalingGroupName"`
	LoadBalancerArn  pulumi.StringOutput `pulumi:"loadBalancerArn"`
	// LoadBalancerSuffix is the balancer's CloudWatch dimension (app/<name>/<id>).
	LoadBalancerSuffix pulumi.StringOutput `pulumi:"loadBalancerArnSuffix"`
	LoadBalancerDNS    pulumi.StringOutput `pulumi:"loadBalancerDnsName"`
	URL                pulumi.StringOutput `pulumi:"url"`
}

func (a *Args) check() error {
	var errs []error
	if a.Namer.Stack() == "" {
		errs = append(errs, errors.New("compute: Namer is required"))
	}
	if a.AccountID == "" || a.Region == "" {
		errs = append(errs, errors.New("compute: AccountID and Region are required"))
	}
	for name, v := range map[string]any{
		"VPCID": a.VPCID, "PublicSubnetIDs": a.PublicSubnetIDs, "PrivateSubnetIDs": a.PrivateSubnetIDs,
		"ALBSecurityGroupID": a.ALBSecurityGroupID, "AppSecurityGroupID": a.AppSecurityGroupID,
		"RegionalWebACLArn": a.RegionalWebACLArn, "LogsKeyArn": a.LogsKeyArn,
	} {
		if v == nil {
			errs = append(errs, fmt.Errorf("compute: %s is required", name))
		}
	}
	if a.Domain != nil && (a.Domain.ZoneID == nil || a.Domain.Hostname == "" || a.Domain.CertificateArn == nil) {
		errs = append(errs, errors.New("compute: Domain needs ZoneID, Hostname and CertificateArn"))
	}
	return errors.Join(errs...)
}

// NewCompute registers the compute tier.
func NewCompute(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Compute, error) {
	if err := args.check(); err != nil {
		return nil, err
	}
	c := &Compute{}
	if err := ctx.RegisterComponentResource(Type, name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	clusterName := args.Namer.PerStack("cats-cluster")

	cluster, err := ecs.NewCluster(ctx, name+"-cluster", &ecs.ClusterArgs{
		Name: pulumi.String(clusterName),
		Settings: ecs.ClusterSettingArray{&ecs.ClusterSettingArgs{
			Name: pulumi.String("containerInsights"), Value: pulumi.String("enabled"),
		}},
	}, parent)
	if err != nil {
		return nil, err
	}
	asg, err := hosts(ctx, name, clusterName, args, parent)
	if err != nil {
		return nil, err
	}
	provider, err := ecs.NewCapacityProvider(ctx, name+"-capacity", &ecs.CapacityProviderArgs{
		Name: pulumi.String(args.Namer.PerStack("cats-hosts")),
		AutoScalingGroupProvider: &ecs.CapacityProviderAutoScalingGroupProviderArgs{
			AutoScalingGroupArn: asg.Arn,
			// ECS adds and removes hosts to fit the tasks (seed §6 Auto Scaling) and
			// never terminates a host that still runs tasks.
			ManagedScaling: &ecs.CapacityProviderAutoScalingGroupProviderManagedScalingArgs{
				Status:                 pulumi.String("ENABLED"),
				TargetCapacity:         pulumi.Int(CapacityTargetPercent),
				MinimumScalingStepSize: pulumi.Int(1),
				MaximumScalingStepSize: pulumi.Int(2),
				InstanceWarmupPeriod:   pulumi.Int(300),
			},
			ManagedTerminationProtection: pulumi.String("ENABLED"),
			ManagedDraining:              pulumi.String("ENABLED"),
		},
	}, parent)
	if err != nil {
		return nil, err
	}
	clusterProviders, err := ecs.NewClusterCapacityProviders(ctx, name+"-cluster-capacity", &ecs.ClusterCapacityProvidersArgs{
		ClusterName:       cluster.Name,
		CapacityProviders: pulumi.StringArray{provider.Name},
		DefaultCapacityProviderStrategies: ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArray{
			&ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs{CapacityProvider: provider.Name, Weight: pulumi.Int(1)},
		},
	}, parent)
	if err != nil {
		return nil, err
	}

	alb, targetGroup, listeners, url, err := loadBalancer(ctx, name, args, c)
	if err != nil {
		return nil, err
	}
	taskDef, err := task(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	serviceName := args.Namer.PerStack("cats-app")
	service, err := ecs.NewService(ctx, name+"-service", &ecs.ServiceArgs{
		Name:           pulumi.String(serviceName),
		Cluster:        cluster.Arn,
		TaskDefinition: taskDef.Arn,
		DesiredCount:   pulumi.Int(args.Compute.MinInstances),
		CapacityProviderStrategies: ecs.ServiceCapacityProviderStrategyArray{
			&ecs.ServiceCapacityProviderStrategyArgs{CapacityProvider: provider.Name, Weight: pulumi.Int(1)},
		},
		NetworkConfiguration: &ecs.ServiceNetworkConfigurationArgs{
			Subnets:        args.PrivateSubnetIDs,
			SecurityGroups: pulumi.StringArray{args.AppSecurityGroupID},
			AssignPublicIp: pulumi.Bool(false),
		},
		LoadBalancers: ecs.ServiceLoadBalancerArray{&ecs.ServiceLoadBalancerArgs{
			TargetGroupArn: targetGroup.Arn,
			ContainerName:  pulumi.String(containerName),
			ContainerPort:  pulumi.Int(args.Compute.ContainerPort),
		}},
		// Multi-AZ (seed §6): tasks spread over the zones first, then over hosts.
		OrderedPlacementStrategies: ecs.ServiceOrderedPlacementStrategyArray{
			&ecs.ServiceOrderedPlacementStrategyArgs{Type: pulumi.String("spread"), Field: pulumi.String("attribute:ecs.availability-zone")},
			&ecs.ServiceOrderedPlacementStrategyArgs{Type: pulumi.String("spread"), Field: pulumi.String("instanceId")},
		},
		AvailabilityZoneRebalancing: pulumi.String("ENABLED"),
		DeploymentCircuitBreaker: &ecs.ServiceDeploymentCircuitBreakerArgs{
			Enable: pulumi.Bool(true), Rollback: pulumi.Bool(true),
		},
		HealthCheckGracePeriodSeconds: pulumi.Int(60),
		EnableEcsManagedTags:          pulumi.Bool(true),
		PropagateTags:                 pulumi.String("SERVICE"),
	}, parent, pulumi.DependsOn(append([]pulumi.Resource{clusterProviders}, listeners...)))
	if err != nil {
		return nil, err
	}
	if err := taskScaling(ctx, name, args, clusterName, serviceName, service, parent); err != nil {
		return nil, err
	}

	c.ClusterName = cluster.Name
	c.ServiceName = service.Name
	c.AutoScalingGroup = asg.Name
	c.LoadBalancerArn = alb.Arn
	c.LoadBalancerSuffix = alb.ArnSuffix
	c.LoadBalancerDNS = alb.DnsName
	c.URL = url
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"clusterName":           c.ClusterName,
		"serviceName":           c.ServiceName,
		"autoScalingGroupName":  c.AutoScalingGroup,
		"loadBalancerArn":       c.LoadBalancerArn,
		"loadBalancerArnSuffix": c.LoadBalancerSuffix,
		"loadBalancerDnsName":   c.LoadBalancerDNS,
		"url":                   c.URL,
	}); err != nil {
		return nil, fmt.Errorf("register %s outputs: %w", name, err)
	}
	return c, nil
}

// hosts is the ECS container instances: a launch template and the Auto Scaling group.
func hosts(ctx *pulumi.Context, name, clusterName string, args Args, parent pulumi.ResourceOption) (*autoscaling.Group, error) {
	// EC2 documents an instance role's trust without a condition
	// (docs.aws.amazon.com/AmazonECS/latest/developerguide/instance_IAM_role.html).
	role, err := iam.NewRole(ctx, name+"-host-role", &iam.RoleArgs{
		Name:             pulumi.String(args.Namer.PerStack("cats-ecs-host")),
		Description:      pulumi.String("ECS container instances: the ECS agent and Session Manager (no SSH)"),
		AssumeRolePolicy: iamdoc.AssumeRole("ec2.amazonaws.com", nil),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the host role: %w", err)
	}
	for _, managed := range []string{
		"arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
		"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
	} {
		if _, err := iam.NewRolePolicyAttachment(ctx, fmt.Sprintf("%s-host-role-%s", name, path.Base(managed)), &iam.RolePolicyAttachmentArgs{
			Role: role.Name, PolicyArn: pulumi.String(managed),
		}, parent); err != nil {
			return nil, fmt.Errorf("attach %s to the host role: %w", managed, err)
		}
	}
	profile, err := iam.NewInstanceProfile(ctx, name+"-host-profile", &iam.InstanceProfileArgs{
		Name: pulumi.String(args.Namer.PerStack("cats-ecs-host")),
		Role: role.Name,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the host instance profile: %w", err)
	}
	userData := fmt.Sprintf("#!/bin/bash\ncat >> /etc/ecs/ecs.config <<'EOF'\nECS_CLUSTER=%s\nECS_ENABLE_TASK_IAM_ROLE=true\nECS_AWSVPC_BLOCK_IMDS=true\nEOF\n", clusterName)
	var tagSpecs ec2.LaunchTemplateTagSpecificationArray
	for _, kind := range []string{"instance", "volume", "network-interface"} {
		tags := pulumi.StringMap{"Name": pulumi.String(clusterName)}
		for k, v := range args.InstanceTags {
			tags[k] = pulumi.String(v)
		}
		tagSpecs = append(tagSpecs, &ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String(kind), Tags: tags})
	}
	template, err := ec2.NewLaunchTemplate(ctx, name+"-launch-template", &ec2.LaunchTemplateArgs{
		Name:                pulumi.String(args.Namer.PerStack("cats-ecs-host")),
		ImageId:             pulumi.String(ImageParameter),
		InstanceType:        pulumi.String(args.Compute.InstanceType), // seed §4: t3.medium
		IamInstanceProfile:  &ec2.LaunchTemplateIamInstanceProfileArgs{Arn: profile.Arn},
		VpcSecurityGroupIds: pulumi.StringArray{args.AppSecurityGroupID},
		UserData:            pulumi.String(base64.StdEncoding.EncodeToString([]byte(userData))),
		// IMDSv2 only (FSBP EC2.8); one hop keeps containers off the host's credentials.
		MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(1),
		},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{&ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String("/dev/xvda"),
			Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
				Encrypted:           pulumi.String("true"), // EBS encryption at rest (FSBP EC2.3)
				VolumeType:          pulumi.String("gp3"),
				VolumeSize:          pulumi.Int(30),
				DeleteOnTermination: pulumi.String("true"),
			},
		}},
		Monitoring:           &ec2.LaunchTemplateMonitoringArgs{Enabled: pulumi.Bool(true)},
		TagSpecifications:    tagSpecs,
		UpdateDefaultVersion: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the host launch template: %w", err)
	}
	group, err := autoscaling.NewGroup(ctx, name+"-asg", &autoscaling.GroupArgs{
		Name:               pulumi.String(args.Namer.PerStack("cats-ecs-hosts")),
		MinSize:            pulumi.Int(args.Compute.MinInstances), // seed §4: 最小2台
		MaxSize:            pulumi.Int(args.Compute.MaxInstances), // seed §4: 最大10台
		VpcZoneIdentifiers: args.PrivateSubnetIDs,                 // both zones (seed §6)
		LaunchTemplate: &autoscaling.GroupLaunchTemplateArgs{
			Id: template.ID(), Version: template.LatestVersion.ApplyT(func(v int) string { return fmt.Sprint(v) }).(pulumi.StringOutput),
		},
		HealthCheckType:        pulumi.String("EC2"),
		HealthCheckGracePeriod: pulumi.Int(300),
		// The capacity provider's managed termination protection needs scale-in protection.
		ProtectFromScaleIn: pulumi.Bool(true),
		// ECS, not the group, decides how many hosts run; a destroy must not wait on protected hosts.
		ForceDelete:    pulumi.Bool(true),
		EnabledMetrics: pulumi.ToStringArray([]string{"GroupInServiceInstances", "GroupDesiredCapacity", "GroupMinSize", "GroupMaxSize"}),
		Tags:           groupTags(args.InstanceTags),
		InstanceRefresh: &autoscaling.GroupInstanceRefreshArgs{
			Strategy:    pulumi.String("Rolling"),
			Preferences: &autoscaling.GroupInstanceRefreshPreferencesArgs{MinHealthyPercentage: pulumi.Int(50)},
		},
	}, parent, pulumi.IgnoreChanges([]string{"desiredCapacity"}))
	if err != nil {
		return nil, fmt.Errorf("create the host Auto Scaling group: %w", err)
	}
	return group, nil
}

// task is the application's task definition (seed §4 タスク定義: Docker コンテナ).
func task(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (*ecs.TaskDefinition, error) {
	family := args.Namer.PerStack("cats-app")
	logGroup, err := cloudwatch.NewLogGroup(ctx, name+"-app-logs", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String("/ecs/" + family),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
		KmsKeyId:        args.LogsKeyArn,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the application's log group: %w", err)
	}
	// ECS documents the task execution role's trust without a condition
	// (docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html):
	// the agent pulls the image and writes the logs with it, and a condition on a
	// key ECS does not send there would stop every task from starting.
	execRole, err := iam.NewRole(ctx, name+"-execution-role", &iam.RoleArgs{
		Name:             pulumi.String(args.Namer.PerStack("cats-app-execution")),
		Description:      pulumi.String("ECS pulls the application image and writes its logs"),
		AssumeRolePolicy: iamdoc.AssumeRole("ecs-tasks.amazonaws.com", nil),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the task execution role: %w", err)
	}
	if _, err := iam.NewRolePolicyAttachment(ctx, name+"-execution-role-managed", &iam.RolePolicyAttachmentArgs{
		Role: execRole.Name, PolicyArn: pulumi.String("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"),
	}, parent); err != nil {
		return nil, fmt.Errorf("attach AmazonECSTaskExecutionRolePolicy: %w", err)
	}
	// The application itself calls no AWS API: its role has no permissions.
	// Its trust is the one ECS documents against the confused deputy: tasks of
	// this account and region only (docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html).
	taskTrust := iamdoc.SourceAccount(args.AccountID)
	taskTrust["ArnLike"] = map[string]any{"aws:SourceArn": fmt.Sprintf("arn:aws:ecs:%s:%s:*", args.Region, args.AccountID)}
	taskRole, err := iam.NewRole(ctx, name+"-task-role", &iam.RoleArgs{
		Name:             pulumi.String(args.Namer.PerStack("cats-app-task")),
		Description:      pulumi.String("The application's own identity: no AWS permissions"),
		AssumeRolePolicy: iamdoc.AssumeRole("ecs-tasks.amazonaws.com", taskTrust),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the task role: %w", err)
	}
	containers, err := ContainerDefinitions(args.Compute, "/ecs/"+family, args.Region)
	if err != nil {
		return nil, fmt.Errorf("write the container definitions: %w", err)
	}
	taskDef, err := ecs.NewTaskDefinition(ctx, name+"-task", &ecs.TaskDefinitionArgs{
		Family:                  pulumi.String(family),
		NetworkMode:             pulumi.String("awsvpc"), // each task its own interface and cats-app-sg
		RequiresCompatibilities: pulumi.StringArray{pulumi.String("EC2")},
		Cpu:                     pulumi.String(fmt.Sprint(TaskCPU)),
		Memory:                  pulumi.String(fmt.Sprint(TaskMemory)),
		ExecutionRoleArn:        execRole.Arn,
		TaskRoleArn:             taskRole.Arn,
		ContainerDefinitions:    pulumi.String(containers),
		RuntimePlatform: &ecs.TaskDefinitionRuntimePlatformArgs{
			OperatingSystemFamily: pulumi.String("LINUX"),
			CpuArchitecture:       pulumi.String("X86_64"), // t3 hosts
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{logGroup}))
	if err != nil {
		return nil, fmt.Errorf("create the task definition: %w", err)
	}
	return taskDef, nil
}

// ContainerDefinitions is the task's one container: the configured image on
// the configured port, logging to its encrypted log group.
func ContainerDefinitions(c config.Compute, logGroup, region string) (string, error) {
	b, err := json.Marshal([]map[string]any{{
		"name":      containerName,
		"image":     c.ContainerImage,
		"essential": true,
		"portMappings": []map[string]any{{
			"containerPort": c.ContainerPort, "protocol": "tcp", "appProtocol": "http",
		}},
		"logConfiguration": map[string]any{
			"logDriver": "awslogs",
			"options": map[string]string{
				"awslogs-group": logGroup, "awslogs-region": region, "awslogs-stream-prefix": containerName,
			},
		},
		"linuxParameters": map[string]any{"initProcessEnabled": true},
	}})
	return string(b), err
}

// loadBalancer is the internet-facing ALB with its logs, listeners, target group and WAF.
func loadBalancer(ctx *pulumi.Context, name string, args Args, tier pulumi.Resource) (*lb.LoadBalancer, *lb.TargetGroup, []pulumi.Resource, pulumi.StringOutput, error) {
	var url pulumi.StringOutput
	parent := pulumi.Parent(tier)
	logs, err := accessLogBucket(ctx, name, args, tier)
	if err != nil {
		return nil, nil, nil, url, err
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
		return nil, nil, nil, url, err
	}
	targetGroup, err := lb.NewTargetGroup(ctx, name+"-targets", &lb.TargetGroupArgs{
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
		return nil, nil, nil, url, err
	}
	forward := lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{Type: pulumi.String("forward"), TargetGroupArn: targetGroup.Arn}}
	var listeners []pulumi.Resource
	if args.Domain == nil {
		// No domain, so no certificate: HTTP on the balancer's own name.
		http, err := lb.NewListener(ctx, name+"-http", &lb.ListenerArgs{
			LoadBalancerArn: alb.Arn, Port: pulumi.Int(80), Protocol: pulumi.String("HTTP"), DefaultActions: forward,
		}, parent)
		if err != nil {
			return nil, nil, nil, url, err
		}
		listeners = append(listeners, http)
		url = pulumi.Sprintf("http://%s", alb.DnsName)
	} else {
		https, err := lb.NewListener(ctx, name+"-https", &lb.ListenerArgs{
			LoadBalancerArn: alb.Arn, Port: pulumi.Int(443), Protocol: pulumi.String("HTTPS"),
			SslPolicy: pulumi.String(TLSPolicy), CertificateArn: args.Domain.CertificateArn, DefaultActions: forward,
		}, parent)
		if err != nil {
			return nil, nil, nil, url, err
		}
		redirect, err := lb.NewListener(ctx, name+"-http-redirect", &lb.ListenerArgs{
			LoadBalancerArn: alb.Arn, Port: pulumi.Int(80), Protocol: pulumi.String("HTTP"),
			DefaultActions: lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{
				Type: pulumi.String("redirect"),
				Redirect: &lb.ListenerDefaultActionRedirectArgs{
					Protocol: pulumi.String("HTTPS"), Port: pulumi.String("443"), StatusCode: pulumi.String("HTTP_301"),
				},
			}},
		}, parent)
		if err != nil {
			return nil, nil, nil, url, err
		}
		listeners = append(listeners, https, redirect)
		if _, err := route53.NewRecord(ctx, name+"-app-record", &route53.RecordArgs{
			ZoneId: args.Domain.ZoneID,
			Name:   pulumi.String(args.Domain.Hostname),
			Type:   pulumi.String("A"),
			Aliases: route53.RecordAliasArray{&route53.RecordAliasArgs{
				Name: alb.DnsName, ZoneId: alb.ZoneId, EvaluateTargetHealth: pulumi.Bool(true),
			}},
		}, parent); err != nil {
			return nil, nil, nil, url, err
		}
		url = pulumi.String("https://" + args.Domain.Hostname).ToStringOutput()
	}
	if _, err := wafv2.NewWebAclAssociation(ctx, name+"-alb-waf", &wafv2.WebAclAssociationArgs{
		ResourceArn: alb.Arn,
		WebAclArn:   args.RegionalWebACLArn, // seed §7 WAF
	}, parent); err != nil {
		return nil, nil, nil, url, err
	}
	return alb, targetGroup, listeners, url, nil
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
func accessLogBucket(ctx *pulumi.Context, name string, args Args, tier pulumi.Resource) (*storage.PrivateBucket, error) {
	bucketName, err := args.Namer.Global("cats-alb-logs")
	if err != nil {
		return nil, fmt.Errorf("name the access log bucket: %w", err)
	}
	writer, err := albLogWriter(ctx, args.Region, pulumi.Parent(tier))
	if err != nil {
		return nil, err
	}
	bucket, err := storage.NewPrivateBucket(ctx, name+"-alb-logs", storage.PrivateBucketArgs{
		BucketName: bucketName,
		Retain:     args.Prod,
		Parent:     tier,
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
	}, pulumi.Parent(tier)); err != nil {
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

// taskScaling keeps the service's average CPU near TaskCPUTarget with between
// MinInstances and TasksPerHost × MaxInstances tasks; the capacity provider
// then grows or shrinks the hosts within 2–10 to fit them.
func taskScaling(ctx *pulumi.Context, name string, args Args, clusterName, serviceName string, service *ecs.Service, parent pulumi.ResourceOption) error {
	resourceID := fmt.Sprintf("service/%s/%s", clusterName, serviceName)
	target, err := appautoscaling.NewTarget(ctx, name+"-task-scaling", &appautoscaling.TargetArgs{
		ServiceNamespace:  pulumi.String("ecs"),
		ResourceId:        pulumi.String(resourceID),
		ScalableDimension: pulumi.String("ecs:service:DesiredCount"),
		MinCapacity:       pulumi.Int(args.Compute.MinInstances),
		MaxCapacity:       pulumi.Int(args.Compute.MaxInstances * TasksPerHost),
	}, parent, pulumi.DependsOn([]pulumi.Resource{service}))
	if err != nil {
		return err
	}
	_, err = appautoscaling.NewPolicy(ctx, name+"-task-scaling-cpu", &appautoscaling.PolicyArgs{
		Name:              pulumi.String(args.Namer.PerStack("cats-app-cpu")),
		PolicyType:        pulumi.String("TargetTrackingScaling"),
		ServiceNamespace:  target.ServiceNamespace,
		ResourceId:        target.ResourceId,
		ScalableDimension: target.ScalableDimension,
		TargetTrackingScalingPolicyConfiguration: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs{
			TargetValue: pulumi.Float64(TaskCPUTarget),
			PredefinedMetricSpecification: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs{
				PredefinedMetricType: pulumi.String("ECSServiceAverageCPUUtilization"),
			},
			ScaleInCooldown:  pulumi.Int(300),
			ScaleOutCooldown: pulumi.Int(60),
		},
	}, parent)
	return err
}

// groupTags are the Auto Scaling group's own tags: the stack's standard tags
// (the launch template already puts them on the hosts and volumes) and the
// AmazonECSManaged tag a managed-scaling capacity provider requires.
func groupTags(standard map[string]string) autoscaling.GroupTagArray {
	tags := autoscaling.GroupTagArray{&autoscaling.GroupTagArgs{
		Key: pulumi.String("AmazonECSManaged"), Value: pulumi.String(""), PropagateAtLaunch: pulumi.Bool(true),
	}}
	for _, k := range slices.Sorted(maps.Keys(standard)) {
		tags = append(tags, &autoscaling.GroupTagArgs{
			Key: pulumi.String(k), Value: pulumi.String(standard[k]), PropagateAtLaunch: pulumi.Bool(false),
		})
	}
	return tags
}
