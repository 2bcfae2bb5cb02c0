//! trailrelay's one home for AWS calls: one module per service, each a small
//! adapter that reads or writes and decides nothing. The traits they fill are
//! declared by their users: [`trailrelay_shared::publish::Publisher`] and
//! the directory and path-store traits by the library, the sync's by
//! account-sync, the doctor's by the CLI.

pub mod calls;
#[cfg(feature = "cloudtrail")]
pub mod cloudtrail;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
pub mod dynamodb;
#[cfg(feature = "ec2")]
pub mod ec2;
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
/// Lambda binary. The roots it trusts are `TRAILRELAY_TLS_ROOTS`'s
/// ([`TrustRoots::from_setting`]).
pub fn config_loader() -> aws_config::ConfigLoader {
    let setting = std::env::var(TrustRoots::SETTING).ok();
    let roots = TrustRoots::from_setting(setting.as_deref()).unwrap_or_else(|unknown| {
        tracing::warn!(
            setting = TrustRoots::SETTING,
            value = %unknown,
            "unknown trust roots (system or amazon); trusting the system's"
        );
        TrustRoots::System
    });
    let mut http = aws_smithy_http_client::Builder::new().tls_provider(
        aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ),
    );
    // Building a context only stores what it is given: it cannot fail today.
    if let Ok(context) = aws_smithy_http_client::tls::TlsContext::builder()
        .with_trust_store(roots.trust_store())
        .build()
    {
        http = http.tls_context(context);
    }
    let http = http.build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http)
}

/// The root certificates the HTTPS client trusts.
///
/// Reading and decoding the system's roots is most of a function's init
/// (docs/performance.md, "Where init goes"); AWS's service endpoints chain
/// to Amazon Trust Services, so a function that calls only AWS can trust
/// those five roots alone. Not where a TLS-inspecting proxy sits on the
/// path, nor outside the `aws` partition (docs/aws-requirements.md, R25).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoots {
    /// The platform's roots (`SSL_CERT_FILE`, `SSL_CERT_DIR`, else the
    /// usual bundle and directory): the SDK's default.
    System,
    /// Amazon Root CA 1 to 4 and Starfield Services Root G2, built in.
    AmazonTrustServices,
}

/// Amazon Trust Services' roots (<https://www.amazontrust.com/repository/>),
/// as Debian's `ca-certificates` ships them.
pub const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../roots/amazon-trust-services.pem");

impl TrustRoots {
    /// The environment variable that chooses them.
    pub const SETTING: &'static str = "TRAILRELAY_TLS_ROOTS";

    /// `system` (or unset, or empty) and `amazon`; any other value is
    /// returned as the error.
    pub fn from_setting(value: Option<&str>) -> Result<TrustRoots, String> {
        match value.map(str::trim) {
            None | Some("") | Some("system") => Ok(TrustRoots::System),
            Some("amazon") => Ok(TrustRoots::AmazonTrustServices),
            Some(other) => Err(other.to_owned()),
        }
    }

    fn trust_store(self) -> aws_smithy_http_client::tls::TrustStore {
        use aws_smithy_http_client::tls::TrustStore;
        match self {
            TrustRoots::System => TrustStore::default(),
            TrustRoots::AmazonTrustServices => TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS.as_bytes()),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_roots_are_the_systems_unless_amazon_is_asked_for() {
        assert_eq!(TrustRoots::from_setting(None), Ok(TrustRoots::System));
        assert_eq!(TrustRoots::from_setting(Some("")), Ok(TrustRoots::System));
        assert_eq!(
            TrustRoots::from_setting(Some("system")),
            Ok(TrustRoots::System)
        );
        assert_eq!(
            TrustRoots::from_setting(Some(" amazon ")),
            Ok(TrustRoots::AmazonTrustServices)
        );
        assert_eq!(
            TrustRoots::from_setting(Some("Amazon")),
            Err("Amazon".into())
        );
        assert_eq!(TrustRoots::from_setting(Some("none")), Err("none".into()));
    }

    /// The client adds each built-in root with `expect`: one that did not
    /// parse as a trust anchor would stop every function at its first call.
    #[test]
    fn the_built_in_roots_are_the_five_amazon_trust_services_anchors() {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(
            AMAZON_TRUST_SERVICES_ROOTS.as_bytes(),
        )
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM");
        assert_eq!(certs.len(), 5);
        let mut store = rustls::RootCertStore::empty();
        for cert in certs {
            store.add(cert).expect("a trust anchor");
        }
        assert_eq!(store.len(), 5);
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
        ] {
            assert!(
                AMAZON_TRUST_SERVICES_ROOTS.contains(&format!("# {name}\n")),
                "{name}"
            );
        }
    }
}
