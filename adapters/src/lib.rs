//! trailrelay's one home for AWS calls: one module per service, each a small
//! adapter that reads or writes and decides nothing. The traits they fill are
//! declared by their users: [`trailrelay_shared::publish::Publisher`] and
//! the directory and path-store traits by the library, the sync's by
//! account-sync, the doctor's by the CLI.

#[cfg(feature = "cloudtrail")]
pub mod cloudtrail;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
pub mod dynamodb;
pub mod eventbridge;
#[cfg(feature = "iam")]
pub mod iam;
#[cfg(feature = "kms")]
pub mod kms;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "organizations")]
pub mod organizations;
pub mod s3;
#[cfg(feature = "sqs")]
pub mod sqs;

use aws_config::SdkConfig;

/// A failed AWS call: which API, its error code when the service gave one,
/// and the SDK's whole account of it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{api}: {detail}")]
pub struct Error {
    pub api: &'static str,
    pub code: Option<String>,
    pub detail: String,
}

impl Error {
    fn of<E>(api: &'static str, err: E) -> Error
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    {
        Error {
            api,
            code: err.code().map(str::to_owned),
            detail: aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        }
    }

    /// The same error, its detail prefixed with where it happened.
    fn at(mut self, location: impl std::fmt::Display) -> Error {
        self.detail = format!("{location}: {}", self.detail);
        self
    }

    /// The service asked to slow down: worth a retry.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("TooManyRequestsException" | "ThrottlingException" | "Throttling")
        )
    }

    /// The error code, else the whole text: for one-line findings.
    pub fn short(&self) -> String {
        self.code.clone().unwrap_or_else(|| self.detail.clone())
    }
}

/// The standard AWS configuration (credential chain, region,
/// `AWS_ENDPOINT_URL`), with the relay's HTTP client: rustls on `ring`, not
/// the SDK's default on `aws-lc-rs`, whose C library was over 2 MB of each
/// Lambda binary.
pub fn config_loader() -> aws_config::ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http)
}

/// A configuration for a local endpoint (a test server, an emulator) with
/// fixed test credentials: nothing is looked up, nothing leaves loopback.
pub async fn local_config(endpoint_url: &str, region: &str) -> SdkConfig {
    config_loader()
        .endpoint_url(endpoint_url)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
            "test", "test", None, None, "local",
        ))
        .load()
        .await
}

/// The standard configuration, with a profile and a region when given.
pub async fn load_config(profile: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = config_loader();
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    loader.load().await
}

/// The configuration of a role assumed from `config` (same region,
/// `AWS_ENDPOINT_URL` kept): a member's doctor role, the Organizations read
/// role. The credentials are fetched, and refreshed, on first use.
pub async fn assume_role(config: &SdkConfig, role_arn: &str, session_name: &str) -> SdkConfig {
    let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name(session_name)
        .configure(config)
        .build()
        .await;
    let mut loader = config_loader().credentials_provider(provider);
    if let Some(region) = config.region() {
        loader = loader.region(region.clone());
    }
    loader.load().await
}

/// The same credentials in another region.
pub fn in_region(config: &SdkConfig, region: &str) -> SdkConfig {
    config
        .to_builder()
        .region(aws_config::Region::new(region.to_owned()))
        .build()
}

/// The region a configuration calls, if it has one.
pub fn region_of(config: &SdkConfig) -> Option<String> {
    config.region().map(|r| r.to_string())
}
