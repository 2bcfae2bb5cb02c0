//! EC2: the VPC attributes the functions' interface endpoints depend on.

use crate::Error;
use aws_config::SdkConfig;
use aws_sdk_ec2::operation::describe_vpc_attribute::DescribeVpcAttributeOutput;
use aws_sdk_ec2::types::VpcAttributeName;

/// A VPC's DNS settings: private DNS names of interface endpoints resolve
/// only where both are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpcDns {
    pub support: bool,
    pub hostnames: bool,
}

/// Reads `enableDnsSupport` and `enableDnsHostnames` of a VPC (one call
/// each: DescribeVpcAttribute takes one attribute at a time).
pub async fn vpc_dns(config: &SdkConfig, vpc_id: &str) -> Result<VpcDns, Error> {
    let client = aws_sdk_ec2::Client::new(config);
    let support = attribute(&client, vpc_id, VpcAttributeName::EnableDnsSupport).await?;
    let hostnames = attribute(&client, vpc_id, VpcAttributeName::EnableDnsHostnames).await?;
    Ok(VpcDns {
        support: support
            .enable_dns_support()
            .and_then(|v| v.value())
            .unwrap_or(false),
        hostnames: hostnames
            .enable_dns_hostnames()
            .and_then(|v| v.value())
            .unwrap_or(false),
    })
}

async fn attribute(
    client: &aws_sdk_ec2::Client,
    vpc_id: &str,
    name: VpcAttributeName,
) -> Result<DescribeVpcAttributeOutput, Error> {
    client
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(name)
        .send()
        .await
        .map_err(|e| Error::of("DescribeVpcAttribute", e).at(vpc_id))
}
