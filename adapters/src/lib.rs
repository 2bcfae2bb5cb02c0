//! The AWS side of the traits the relay's logic is written against: each
//! module is one small adapter, and nothing here decides anything.

pub mod dynamodb;
pub mod eventbridge;
pub mod s3;

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
