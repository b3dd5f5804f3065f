//! The workload stacks under infra/ keep the settings the platform relies on: the eksctl
//! ClusterConfig (Auto Mode, private nodes, EFS CSI, tags, audit logging) and the EC2
//! CloudFormation template (private instance, IMDSv2, encrypted volumes, the deploy modes,
//! the SAM outputs wired in as parameters, tags on every taggable resource).

use std::collections::BTreeSet;

use pb_tests::yaml::{read_repo_file as read, repo_yaml as yaml};
use serde_json::{json, Value};

/// `${NAME}` placeholders in `text`.
fn placeholders(text: &str) -> BTreeSet<String> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

fn resource<'a>(template: &'a Value, logical_id: &str) -> &'a Value {
    let resource = &template["Resources"][logical_id];
    assert!(resource.is_object(), "no resource {logical_id}");
    resource
}

// ---------------------------------------------------------------------------
// infra/eks/cluster.yaml
// ---------------------------------------------------------------------------

#[test]
fn the_cluster_is_an_auto_mode_cluster_config() {
    let cluster = yaml("infra/eks/cluster.yaml");
    assert_eq!(cluster["apiVersion"], "eksctl.io/v1alpha5");
    assert_eq!(cluster["kind"], "ClusterConfig");
    assert_eq!(cluster["autoModeConfig"]["enabled"], true);
    assert!(
        cluster.get("managedNodeGroups").is_none() && cluster.get("nodeGroups").is_none(),
        "Auto Mode clusters get their nodes from node pools, not node groups"
    );
}

#[test]
fn the_cluster_endpoint_and_nodes_are_private() {
    let cluster = yaml("infra/eks/cluster.yaml");
    let vpc = &cluster["vpc"];
    assert_eq!(vpc["clusterEndpoints"]["privateAccess"], true);
    if vpc["clusterEndpoints"]["publicAccess"] != false {
        let cidrs = vpc["publicAccessCIDRs"]
            .as_array()
            .expect("a public endpoint must be limited by publicAccessCIDRs");
        assert!(!cidrs.is_empty(), "publicAccessCIDRs is empty");
        assert!(
            !cidrs.contains(&json!("0.0.0.0/0")),
            "the public endpoint is open to the internet"
        );
    }
    // Auto Mode's built-in node pools launch nodes into the cluster subnets: only private ones.
    assert!(
        vpc["subnets"].get("public").is_none(),
        "public subnets given to an Auto Mode cluster receive nodes"
    );
    let private = vpc["subnets"]["private"]
        .as_object()
        .expect("vpc.subnets.private lists the node subnets");
    assert_eq!(private.len(), 2, "one private subnet per AZ");
}

#[test]
fn the_cluster_has_the_efs_driver_tags_encryption_and_audit_logs() {
    let cluster = yaml("infra/eks/cluster.yaml");
    let addons: Vec<&str> = cluster["addons"]
        .as_array()
        .expect("addons is a list")
        .iter()
        .filter_map(|addon| addon["name"].as_str())
        .collect();
    assert!(addons.contains(&"aws-efs-csi-driver"), "addons: {addons:?}");

    let tags = &cluster["metadata"]["tags"];
    assert_eq!(tags["pipeline-builder"], "true");
    assert_eq!(tags["pipeline-builder:org"], "${ORG_ID}");

    let log_types = cluster["cloudWatch"]["clusterLogging"]["enableTypes"]
        .as_array()
        .expect("cloudWatch.clusterLogging.enableTypes is a list");
    for wanted in ["api", "audit", "authenticator"] {
        assert!(
            log_types.contains(&json!(wanted)),
            "{wanted} logs are off: {log_types:?}"
        );
    }
    assert_eq!(
        cluster["secretsEncryption"]["keyARN"], "${CLUSTER_KEY_ARN}",
        "secrets are encrypted with the network stack's key"
    );
}

#[test]
fn every_cluster_placeholder_is_rendered_by_the_documented_envsubst_call() {
    let text = read("infra/eks/cluster.yaml");
    let (comments, body): (Vec<&str>, Vec<&str>) = text
        .lines()
        .partition(|line| line.trim_start().starts_with('#'));
    let used = placeholders(&body.join("\n"));
    assert!(
        used.contains("ORG_ID") && used.contains("VPC_ID"),
        "{used:?}"
    );
    let header = placeholders(&comments.join("\n"));
    assert_eq!(
        used, header,
        "the envsubst list in cluster.yaml's header differs from what the file uses"
    );
    let readme = read("infra/eks/README.md");
    let render = shell_commands(&readme)
        .into_iter()
        .find(|command| {
            command.contains("envsubst") && command.contains("< infra/eks/cluster.yaml")
        })
        .expect("infra/eks/README.md renders cluster.yaml with envsubst");
    assert_eq!(
        placeholders(&render),
        used,
        "infra/eks/README.md's envsubst call for cluster.yaml renders other variables"
    );
}

/// Shell commands of a document, with backslash-continued lines joined.
fn shell_commands(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        match line.trim_end().strip_suffix('\\') {
            Some(continued) => current.push_str(continued),
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current));
            }
        }
    }
    commands
}

// ---------------------------------------------------------------------------
// infra/ec2/template.yaml
// ---------------------------------------------------------------------------

fn launch_template_data(template: &Value) -> &Value {
    let instance = &resource(template, "Instance")["Properties"];
    assert_eq!(
        instance["LaunchTemplate"]["LaunchTemplateId"],
        json!({"!Ref": "InstanceLaunchTemplate"}),
        "the instance is configured by InstanceLaunchTemplate"
    );
    for own in [
        "NetworkInterfaces",
        "SubnetId",
        "SecurityGroupIds",
        "MetadataOptions",
    ] {
        assert!(
            instance.get(own).is_none(),
            "Instance sets {own} itself, bypassing the launch template"
        );
    }
    &resource(template, "InstanceLaunchTemplate")["Properties"]["LaunchTemplateData"]
}

#[test]
fn the_instance_is_private_and_requires_imdsv2() {
    let template = yaml("infra/ec2/template.yaml");
    let data = launch_template_data(&template);
    let interfaces = data["NetworkInterfaces"]
        .as_array()
        .expect("the launch template declares its network interface");
    assert!(!interfaces.is_empty());
    for interface in interfaces {
        assert_eq!(interface["AssociatePublicIpAddress"], false);
        let subnet = interface["SubnetId"]["!Ref"].as_str().unwrap_or_default();
        assert!(
            subnet.starts_with("PrivateSubnet"),
            "instance subnet {subnet}"
        );
    }
    assert_eq!(data["MetadataOptions"]["HttpTokens"], "required");
    assert_eq!(data["MetadataOptions"]["HttpEndpoint"], "enabled");
    let profile = &resource(&template, "InstanceProfile")["Properties"]["Roles"][0];
    let role = profile["!Ref"].as_str().expect("instance profile role");
    let managed = resource(&template, role)["Properties"]["ManagedPolicyArns"].to_string();
    assert!(
        managed.contains("AmazonSSMManagedInstanceCore"),
        "{managed}"
    );
}

#[test]
fn the_root_and_data_volumes_are_encrypted() {
    let template = yaml("infra/ec2/template.yaml");
    let data = launch_template_data(&template);
    let mappings = data["BlockDeviceMappings"]
        .as_array()
        .expect("root volume mapping");
    assert!(!mappings.is_empty());
    for mapping in mappings {
        assert_eq!(mapping["Ebs"]["Encrypted"], true, "{mapping}");
    }
    let volume = resource(&template, "DataVolume");
    assert_eq!(volume["Type"], "AWS::EC2::Volume");
    assert_eq!(volume["Properties"]["Encrypted"], true);
    assert_eq!(volume["Properties"]["VolumeType"], "gp3");
    assert_eq!(
        volume["Properties"]["Size"],
        json!({"!Ref": "DataVolumeSize"})
    );
    let attachment = &resource(&template, "DataVolumeAttachment")["Properties"];
    assert_eq!(attachment["VolumeId"], json!({"!Ref": "DataVolume"}));
    assert_eq!(attachment["InstanceId"], json!({"!Ref": "Instance"}));
}

#[test]
fn no_security_group_admits_ssh_and_the_instance_only_hears_the_alb() {
    let template = yaml("infra/ec2/template.yaml");
    let resources = template["Resources"].as_object().expect("Resources");
    let mut instance_ingress = Vec::new();
    for (id, resource) in resources {
        let rules: Vec<&Value> = match resource["Type"].as_str() {
            Some("AWS::EC2::SecurityGroup") => resource["Properties"]["SecurityGroupIngress"]
                .as_array()
                .map(|rules| rules.iter().collect())
                .unwrap_or_default(),
            Some("AWS::EC2::SecurityGroupIngress") => vec![&resource["Properties"]],
            _ => continue,
        };
        for rule in rules {
            let from = rule["FromPort"].as_i64();
            let to = rule["ToPort"].as_i64();
            if let (Some(from), Some(to)) = (from, to) {
                assert!(!(from..=to).contains(&22), "{id} admits SSH");
            }
            assert_ne!(rule["IpProtocol"], "-1", "{id} admits every protocol");
            if rule["GroupId"] == json!({"!GetAtt": "InstanceSecurityGroup.GroupId"}) {
                instance_ingress.push(rule.clone());
            }
        }
    }
    assert!(
        resource(&template, "InstanceSecurityGroup")["Properties"]
            .get("SecurityGroupIngress")
            .is_none(),
        "the instance security group has inline ingress rules"
    );
    assert_eq!(instance_ingress.len(), 1, "{instance_ingress:?}");
    let rule = &instance_ingress[0];
    assert_eq!(
        rule["SourceSecurityGroupId"],
        json!({"!GetAtt": "AlbSecurityGroup.GroupId"})
    );
    assert_eq!(rule["FromPort"], json!({"!Ref": "AppPort"}));
    assert_eq!(rule["ToPort"], json!({"!Ref": "AppPort"}));
}

#[test]
fn the_deploy_mode_switches_the_alb_scheme_dns_and_endpoints() {
    let template = yaml("infra/ec2/template.yaml");
    let mode = &template["Parameters"]["DeployMode"];
    assert_eq!(mode["AllowedValues"], json!(["private", "public"]));
    assert_eq!(mode["Default"], "private");

    let alb = &resource(&template, "LoadBalancer")["Properties"];
    assert_eq!(
        alb["Scheme"],
        json!({"!If": ["IsPublic", "internet-facing", "internal"]})
    );
    let https = &resource(&template, "HttpsListener")["Properties"];
    assert_eq!(https["Protocol"], "HTTPS");
    assert_eq!(https["Port"], 443);
    assert!(https["SslPolicy"]
        .as_str()
        .unwrap_or_default()
        .starts_with("ELBSecurityPolicy-TLS13"));
    assert_eq!(
        https["Certificates"][0]["CertificateArn"],
        json!({"!Ref": "Certificate"})
    );
    let certificate = &resource(&template, "Certificate")["Properties"];
    assert_eq!(certificate["ValidationMethod"], "DNS");
    assert_eq!(
        certificate["DomainValidationOptions"][0]["HostedZoneId"],
        json!({"!Ref": "HostedZoneId"})
    );
    let redirect = &resource(&template, "HttpRedirectListener")["Properties"]["DefaultActions"][0];
    assert_eq!(redirect["Type"], "redirect");
    assert_eq!(redirect["RedirectConfig"]["Protocol"], "HTTPS");

    assert_eq!(
        resource(&template, "PublicAliasRecord")["Condition"],
        "IsPublic"
    );
    assert_eq!(
        resource(&template, "PublicAliasRecord")["Properties"]["HostedZoneId"],
        json!({"!Ref": "HostedZoneId"})
    );
    assert_eq!(
        resource(&template, "PrivateHostedZone")["Condition"],
        "IsPrivate"
    );
    assert_eq!(
        resource(&template, "PrivateAliasRecord")["Properties"]["HostedZoneId"],
        json!({"!Ref": "PrivateHostedZone"})
    );

    let mut services = BTreeSet::new();
    for resource in template["Resources"]
        .as_object()
        .expect("Resources")
        .values()
    {
        if resource["Type"] == "AWS::EC2::VPCEndpoint" {
            assert_eq!(resource["Condition"], "IsPrivate", "{resource}");
            let name = resource["Properties"]["ServiceName"]["!Sub"]
                .as_str()
                .unwrap_or_default();
            services.insert(
                name.trim_start_matches("com.amazonaws.${AWS::Region}.")
                    .to_string(),
            );
        }
    }
    let expected: BTreeSet<String> = [
        "s3",
        "logs",
        "secretsmanager",
        "kms",
        "sts",
        "codebuild",
        "ecr.api",
        "ecr.dkr",
        "ssm",
        "ssmmessages",
        "ec2messages",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(services, expected);
}

#[test]
fn the_sam_outputs_are_parameters_wired_into_the_instance() {
    let template = yaml("infra/ec2/template.yaml");
    let data = launch_template_data(&template);
    let user_data = data["UserData"]["Fn::Base64"]["!Sub"]
        .as_str()
        .expect("UserData is a Fn::Sub string");
    for (parameter, variable) in [
        ("PlatformApiUrl", "PLATFORM_API_URL"),
        ("PlatformEventBusArn", "PLATFORM_EVENT_BUS_ARN"),
        ("PluginLookupFunctionArn", "PLUGIN_LOOKUP_FUNCTION_ARN"),
    ] {
        let declared = &template["Parameters"][parameter];
        assert_eq!(declared["Type"], "String", "parameter {parameter}");
        assert!(
            declared.get("Default").is_none(),
            "{parameter} must be passed, not defaulted"
        );
        assert!(
            user_data.contains(&format!("{variable}=${{{parameter}}}")),
            "UserData does not write {variable}=${{{parameter}}}"
        );
    }
    assert!(user_data.contains("/etc/pipeline-builder/backend.env"));
    let policy = resource(&template, "InstanceRole")["Properties"]["Policies"].to_string();
    assert!(
        policy.contains(r#"{"!Ref":"PlatformEventBusArn"}"#),
        "{policy}"
    );
    assert!(
        policy.contains(r#"{"!Ref":"PluginLookupFunctionArn"}"#),
        "{policy}"
    );
}

#[test]
fn the_outputs_include_the_application_url() {
    let template = yaml("infra/ec2/template.yaml");
    let outputs = &template["Outputs"];
    assert_eq!(
        outputs["ApplicationURL"]["Value"],
        json!({"!Sub": "https://${DomainName}"})
    );
    for name in ["LoadBalancerDNSName", "InstanceId", "VpcId"] {
        assert!(
            outputs[name]["Value"].is_object(),
            "output {name} is missing"
        );
    }
}

/// Resource types CloudFormation cannot tag.
const UNTAGGABLE: [&str; 10] = [
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::VolumeAttachment",
    "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::Route53::RecordSet",
    "AWS::IAM::InstanceProfile",
    "AWS::KMS::Alias",
];

fn assert_every_taggable_resource_is_tagged(relative: &str) {
    let template = yaml(relative);
    let resources = template["Resources"].as_object().expect("Resources");
    assert!(!resources.is_empty());
    for (id, resource) in resources {
        let kind = resource["Type"].as_str().unwrap_or_default();
        if UNTAGGABLE.contains(&kind) {
            continue;
        }
        let props = &resource["Properties"];
        let tags = match kind {
            "AWS::Route53::HostedZone" => &props["HostedZoneTags"],
            "AWS::EC2::LaunchTemplate" => &props["TagSpecifications"][0]["Tags"],
            _ => &props["Tags"],
        };
        let tags = tags
            .as_array()
            .unwrap_or_else(|| panic!("{relative}: {id} ({kind}) has no tags"));
        let value = |key: &str| {
            tags.iter()
                .find(|tag| tag["Key"] == key)
                .map(|tag| &tag["Value"])
        };
        assert_eq!(
            value("pipeline-builder"),
            Some(&json!("true")),
            "{relative}: {id}"
        );
        assert_eq!(
            value("pipeline-builder:org"),
            Some(&json!({"!Ref": "OrgId"})),
            "{relative}: {id}"
        );
    }
}

#[test]
fn every_taggable_resource_carries_the_platform_tags() {
    assert_every_taggable_resource_is_tagged("infra/ec2/template.yaml");
    assert_every_taggable_resource_is_tagged("infra/eks/network.yaml");
}

#[test]
fn the_eks_network_tags_subnets_for_load_balancer_discovery() {
    let template = yaml("infra/eks/network.yaml");
    for (subnet, role) in [
        ("PublicSubnet1", "kubernetes.io/role/elb"),
        ("PublicSubnet2", "kubernetes.io/role/elb"),
        ("PrivateSubnet1", "kubernetes.io/role/internal-elb"),
        ("PrivateSubnet2", "kubernetes.io/role/internal-elb"),
    ] {
        let tags = resource(&template, subnet)["Properties"]["Tags"].to_string();
        assert!(
            tags.contains(&format!(r#"{{"Key":"{role}","Value":"1"}}"#)),
            "{subnet} lacks {role}: {tags}"
        );
        assert_eq!(
            resource(&template, subnet)["Properties"]["MapPublicIpOnLaunch"],
            false
        );
    }
    let outputs = &template["Outputs"];
    for name in [
        "VpcId",
        "PrivateSubnet1Id",
        "PrivateSubnet2Id",
        "ClusterKeyArn",
    ] {
        assert!(
            outputs[name]["Value"].is_object(),
            "output {name} is missing"
        );
    }
}
