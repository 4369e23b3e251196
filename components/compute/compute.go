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
	"fmt"
	"maps"
	"path"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/autoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/iamdoc"
	"github.com/cats-analytics/cats-analytics/components/internal/iamrole"
	"github.com/cats-analytics/cats-analytics/components/internal/loggroup"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
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
	c := tier.NewAccountCheck("compute", a.Namer, a.AccountID, a.Region)
	c.Require("VPCID", a.VPCID)
	c.Require("PublicSubnetIDs", a.PublicSubnetIDs)
	c.Require("PrivateSubnetIDs", a.PrivateSubnetIDs)
	c.Require("ALBSecurityGroupID", a.ALBSecurityGroupID)
	c.Require("AppSecurityGroupID", a.AppSecurityGroupID)
	c.Require("RegionalWebACLArn", a.RegionalWebACLArn)
	c.Require("LogsKeyArn", a.LogsKeyArn)
	c.Expect(a.Domain == nil || (a.Domain.ZoneID != nil && a.Domain.Hostname != "" && a.Domain.CertificateArn != nil),
		"Domain needs ZoneID, Hostname and CertificateArn")
	return c.Err()
}

// NewCompute registers the compute tier.
func NewCompute(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Compute, error) {
	c := &Compute{}
	if err := tier.Register(ctx, Type, name, c, args.check, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	cl, err := newCluster(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	front, err := loadBalancer(ctx, name, args, c)
	if err != nil {
		return nil, err
	}
	taskDef, err := task(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	service, err := newService(ctx, name, args, cl, front, taskDef, parent)
	if err != nil {
		return nil, err
	}
	if err := taskScaling(ctx, name, args, cl.name, service, parent); err != nil {
		return nil, err
	}
	c.ClusterName = cl.cluster.Name
	c.ServiceName = service.Name
	c.AutoScalingGroup = cl.hosts.Name
	c.LoadBalancerArn = front.alb.Arn
	c.LoadBalancerSuffix = front.alb.ArnSuffix
	c.LoadBalancerDNS = front.alb.DnsName
	c.URL = front.url
	if err := tier.RegisterOutputs(ctx, name, c); err != nil {
		return nil, err
	}
	return c, nil
}

// cluster is the ECS cluster and the hosts that are its capacity.
type cluster struct {
	name     string
	cluster  *ecs.Cluster
	hosts    *autoscaling.Group
	provider *ecs.CapacityProvider
	// providers attaches provider to the cluster; a service waits for it.
	providers *ecs.ClusterCapacityProviders
}

// newCluster is the ECS cluster with Container Insights, its hosts and the
// capacity provider that scales them.
func newCluster(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (*cluster, error) {
	cl := &cluster{name: args.Namer.PerStack("cats-cluster")}
	var err error
	cl.cluster, err = ecs.NewCluster(ctx, name+"-cluster", &ecs.ClusterArgs{
		Name: pulumi.String(cl.name),
		Settings: ecs.ClusterSettingArray{&ecs.ClusterSettingArgs{
			Name: pulumi.String("containerInsights"), Value: pulumi.String("enabled"),
		}},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the cluster: %w", err)
	}
	if cl.hosts, err = hosts(ctx, name, cl.name, args, parent); err != nil {
		return nil, err
	}
	if cl.provider, err = capacityProvider(ctx, name, args, cl.hosts, parent); err != nil {
		return nil, err
	}
	cl.providers, err = ecs.NewClusterCapacityProviders(ctx, name+"-cluster-capacity", &ecs.ClusterCapacityProvidersArgs{
		ClusterName:       cl.cluster.Name,
		CapacityProviders: pulumi.StringArray{cl.provider.Name},
		DefaultCapacityProviderStrategies: ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArray{
			&ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs{CapacityProvider: cl.provider.Name, Weight: pulumi.Int(1)},
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("give the cluster its capacity provider: %w", err)
	}
	return cl, nil
}

// capacityProvider lets ECS add and remove hosts to fit the tasks (seed §6
// Auto Scaling), never terminating a host that still runs tasks.
func capacityProvider(ctx *pulumi.Context, name string, args Args, hosts *autoscaling.Group, parent pulumi.ResourceOption) (*ecs.CapacityProvider, error) {
	provider, err := ecs.NewCapacityProvider(ctx, name+"-capacity", &ecs.CapacityProviderArgs{
		Name: pulumi.String(args.Namer.PerStack("cats-hosts")),
		AutoScalingGroupProvider: &ecs.CapacityProviderAutoScalingGroupProviderArgs{
			AutoScalingGroupArn: hosts.Arn,
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
		return nil, fmt.Errorf("create the capacity provider: %w", err)
	}
	return provider, nil
}

// newService runs the application's task behind the load balancer, spread
// over the zones (seed §6 multi-AZ) and rolled back when a deployment fails.
func newService(ctx *pulumi.Context, name string, args Args, cl *cluster, front *balancer, taskDef *ecs.TaskDefinition, parent pulumi.ResourceOption) (*ecs.Service, error) {
	service, err := ecs.NewService(ctx, name+"-service", &ecs.ServiceArgs{
		Name:           pulumi.String(args.Namer.PerStack("cats-app")),
		Cluster:        cl.cluster.Arn,
		TaskDefinition: taskDef.Arn,
		DesiredCount:   pulumi.Int(args.Compute.MinInstances),
		CapacityProviderStrategies: ecs.ServiceCapacityProviderStrategyArray{
			&ecs.ServiceCapacityProviderStrategyArgs{CapacityProvider: cl.provider.Name, Weight: pulumi.Int(1)},
		},
		NetworkConfiguration: &ecs.ServiceNetworkConfigurationArgs{
			Subnets:        args.PrivateSubnetIDs,
			SecurityGroups: pulumi.StringArray{args.AppSecurityGroupID},
			AssignPublicIp: pulumi.Bool(false),
		},
		LoadBalancers: ecs.ServiceLoadBalancerArray{&ecs.ServiceLoadBalancerArgs{
			TargetGroupArn: front.targets.Arn,
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
	}, parent, pulumi.DependsOn(append([]pulumi.Resource{cl.providers}, front.listeners...)))
	if err != nil {
		return nil, fmt.Errorf("create the service: %w", err)
	}
	return service, nil
}

// hosts is the ECS container instances: a launch template and the Auto Scaling group.
func hosts(ctx *pulumi.Context, name, clusterName string, args Args, parent pulumi.ResourceOption) (*autoscaling.Group, error) {
	profile, err := hostProfile(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	template, err := launchTemplate(ctx, name, clusterName, args, profile, parent)
	if err != nil {
		return nil, err
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

// hostProfile is the hosts' instance profile: the ECS agent and Session
// Manager, no SSH.
func hostProfile(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (*iam.InstanceProfile, error) {
	var managed []iamrole.Managed
	for _, arn := range []string{
		"arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
		"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
	} {
		managed = append(managed, iamrole.Managed{Name: name + "-host-role-" + path.Base(arn), PolicyArn: arn})
	}
	// EC2 documents an instance role's trust without a condition
	// (docs.aws.amazon.com/AmazonECS/latest/developerguide/instance_IAM_role.html).
	role, err := iamrole.New(ctx, name+"-host-role", iamrole.Args{
		Name:        args.Namer.PerStack("cats-ecs-host"),
		Description: "ECS container instances: the ECS agent and Session Manager (no SSH)",
		Service:     "ec2.amazonaws.com",
		Managed:     managed,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("host role: %w", err)
	}
	profile, err := iam.NewInstanceProfile(ctx, name+"-host-profile", &iam.InstanceProfileArgs{
		Name: pulumi.String(args.Namer.PerStack("cats-ecs-host")),
		Role: role.Role.Name,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the host instance profile: %w", err)
	}
	return profile, nil
}

// launchTemplate starts hosts from the current ECS-optimised image, joined
// to the cluster, with IMDSv2 only and an encrypted root volume.
func launchTemplate(ctx *pulumi.Context, name, clusterName string, args Args, profile *iam.InstanceProfile, parent pulumi.ResourceOption) (*ec2.LaunchTemplate, error) {
	userData := fmt.Sprintf("#!/bin/bash\ncat >> /etc/ecs/ecs.config <<'EOF'\nECS_CLUSTER=%s\nECS_ENABLE_TASK_IAM_ROLE=true\nECS_AWSVPC_BLOCK_IMDS=true\nEOF\n", clusterName)
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
		TagSpecifications:    launchTags(clusterName, args.InstanceTags),
		UpdateDefaultVersion: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the host launch template: %w", err)
	}
	return template, nil
}

// launchTags put the stack's standard tags on what the launch template
// creates (Pulumi does not create them, so its tagging rule does not reach them).
func launchTags(clusterName string, standard map[string]string) ec2.LaunchTemplateTagSpecificationArray {
	var specs ec2.LaunchTemplateTagSpecificationArray
	for _, kind := range []string{"instance", "volume", "network-interface"} {
		tags := pulumi.StringMap{"Name": pulumi.String(clusterName)}
		for k, v := range standard {
			tags[k] = pulumi.String(v)
		}
		specs = append(specs, &ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String(kind), Tags: tags})
	}
	return specs
}

// task is the application's task definition (seed §4 タスク定義: Docker コンテナ).
func task(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (*ecs.TaskDefinition, error) {
	family := args.Namer.PerStack("cats-app")
	logGroup, err := loggroup.New(ctx, name+"-app-logs", "/ecs/"+family, args.LogRetentionDays, args.LogsKeyArn, parent)
	if err != nil {
		return nil, fmt.Errorf("the application's logs: %w", err)
	}
	execRole, taskRole, err := taskRoles(ctx, name, args, parent)
	if err != nil {
		return nil, err
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
		Volumes: ecs.TaskDefinitionVolumeArray{&ecs.TaskDefinitionVolumeArgs{
			Name: pulumi.String(ScratchVolume),
			DockerVolumeConfiguration: &ecs.TaskDefinitionVolumeDockerVolumeConfigurationArgs{
				Scope: pulumi.String("task"), Driver: pulumi.String("local"),
			},
		}},
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

// taskRoles are the execution role ECS starts the task with and the task's
// own role, which has no permissions: the application calls no AWS API.
func taskRoles(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (execRole, taskRole *iam.Role, err error) {
	// ECS documents the task execution role's trust without a condition
	// (docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html):
	// the agent pulls the image and writes the logs with it, and a condition on a
	// key ECS does not send there would stop every task from starting.
	execution, err := iamrole.New(ctx, name+"-execution-role", iamrole.Args{
		Name:        args.Namer.PerStack("cats-app-execution"),
		Description: "ECS pulls the application image and writes its logs",
		Service:     "ecs-tasks.amazonaws.com",
		Managed: []iamrole.Managed{{
			Name:      name + "-execution-role-managed",
			PolicyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
		}},
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("task execution role: %w", err)
	}
	// The task role's trust is the one ECS documents against the confused
	// deputy: tasks of this account and region only
	// (docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html).
	trust := iamdoc.SourceAccount(args.AccountID)
	trust["ArnLike"] = map[string]any{"aws:SourceArn": fmt.Sprintf("arn:aws:ecs:%s:%s:*", args.Region, args.AccountID)}
	app, err := iamrole.New(ctx, name+"-task-role", iamrole.Args{
		Name:        args.Namer.PerStack("cats-app-task"),
		Description: "The application's own identity: no AWS permissions",
		Service:     "ecs-tasks.amazonaws.com",
		Trust:       trust,
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("task role: %w", err)
	}
	return execution.Role, app.Role, nil
}

// ScratchVolume is the task's one writable place, mounted at ScratchPath: a
// Docker volume on the host that lives as long as the task. The container's
// root filesystem is read-only (FSBP ECS.5), so an image that writes anywhere
// else fails at that write, not silently: such an image needs its own
// mount here.
const (
	ScratchVolume = "scratch"
	ScratchPath   = "/tmp"
)

// ContainerDefinitions is the task's one container: the configured image on
// the configured port, logging to its encrypted log group, unprivileged
// (FSBP ECS.4) on a read-only root filesystem (FSBP ECS.5) with
// ScratchVolume writable at ScratchPath.
func ContainerDefinitions(c config.Compute, logGroup, region string) (string, error) {
	b, err := json.Marshal([]map[string]any{{
		"name":                   containerName,
		"image":                  c.ContainerImage,
		"essential":              true,
		"privileged":             false,
		"readonlyRootFilesystem": true,
		"mountPoints": []map[string]any{{
			"sourceVolume": ScratchVolume, "containerPath": ScratchPath, "readOnly": false,
		}},
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

// taskScaling keeps the service's average CPU near TaskCPUTarget with between
// MinInstances and TasksPerHost × MaxInstances tasks; the capacity provider
// then grows or shrinks the hosts within 2–10 to fit them.
func taskScaling(ctx *pulumi.Context, name string, args Args, clusterName string, service *ecs.Service, parent pulumi.ResourceOption) error {
	resourceID := fmt.Sprintf("service/%s/%s", clusterName, args.Namer.PerStack("cats-app"))
	target, err := appautoscaling.NewTarget(ctx, name+"-task-scaling", &appautoscaling.TargetArgs{
		ServiceNamespace:  pulumi.String("ecs"),
		ResourceId:        pulumi.String(resourceID),
		ScalableDimension: pulumi.String("ecs:service:DesiredCount"),
		MinCapacity:       pulumi.Int(args.Compute.MinInstances),
		MaxCapacity:       pulumi.Int(args.Compute.MaxInstances * TasksPerHost),
	}, parent, pulumi.DependsOn([]pulumi.Resource{service}))
	if err != nil {
		return fmt.Errorf("create the task scaling target: %w", err)
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
	if err != nil {
		return fmt.Errorf("create the task scaling policy: %w", err)
	}
	return nil
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
