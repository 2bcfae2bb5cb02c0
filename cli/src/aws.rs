//! What the commands that read a deployment share: the AWS configuration
//! they run with, the runtime they run on, and the stacks' name prefix.

use crate::CliError;
use trailrelay_shared::settings::ENV_NAME_PREFIX;
use trailrelay_shared::tamper::DEFAULT_NAME_PREFIX;

#[derive(clap::Args)]
pub struct AwsArgs {
    /// AWS profile (default: the standard credential chain).
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region (default: the standard chain's).
    #[arg(long)]
    pub region: Option<String>,
}

impl AwsArgs {
    /// The standard AWS configuration (credential chain, `AWS_ENDPOINT_URL`),
    /// with the profile and the region when given.
    pub async fn config(&self) -> aws_config::SdkConfig {
        let mut loader = trailrelay_aws::config_loader();
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        loader.load().await
    }
}

/// The commands make a handful of calls, one after another.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Output)
}

/// The stacks' NamePrefix: as given, else TRAILRELAY_NAME_PREFIX, else the default.
pub fn name_prefix(given: Option<&str>) -> String {
    given
        .map(str::to_owned)
        .or_else(|| {
            std::env::var(ENV_NAME_PREFIX)
                .ok()
                .filter(|p| !p.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_NAME_PREFIX.to_owned())
}

/// One attribute of a queue, if it can be read.
pub async fn queue_attribute(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    name: aws_sdk_sqs::types::QueueAttributeName,
) -> Option<String> {
    let answer = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(name.clone())
        .send()
        .await
        .ok()?;
    answer.attributes()?.get(&name).cloned()
}
