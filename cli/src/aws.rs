//! What the commands that read a deployment share: the AWS configuration
//! they run with, the runtime they run on, and the stacks' name prefix.

use crate::CliError;
use trailrelay_shared::Settings;

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
        trailrelay_adapters::load_config(self.profile.as_deref(), self.region.as_deref()).await
    }
}

/// The commands make a handful of calls, one after another.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Output)
}

/// The stacks' NamePrefix: as given, else the settings' (TRAILRELAY_NAME_PREFIX,
/// else the default).
pub fn name_prefix(given: Option<&str>, settings: &Settings) -> String {
    given.map_or_else(|| settings.names.prefix().to_owned(), str::to_owned)
}
