//! The live directory's source: a conditional GET of one S3 object.

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use trailrelay_shared::directory::{Directory, DirectorySource, Fetched};
use trailrelay_shared::Settings;

pub struct S3Directory {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
}

impl S3Directory {
    pub fn new(client: aws_sdk_s3::Client, bucket: String, key: String) -> Self {
        S3Directory {
            client,
            bucket,
            key,
        }
    }
}

impl DirectorySource for S3Directory {
    async fn fetch(&self, etag: Option<String>) -> Result<Fetched, String> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_if_none_match(etag)
            .send()
            .await;
        match answer {
            Ok(object) => {
                let etag = object.e_tag().map(str::to_owned);
                let bytes = object
                    .body
                    .collect()
                    .await
                    .map_err(|e| format!("reading s3://{}/{}: {e}", self.bucket, self.key))?
                    .into_bytes();
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|e| format!("s3://{}/{} is not UTF-8: {e}", self.bucket, self.key))?;
                Ok(Fetched::Document { text, etag })
            }
            // If-None-Match matched: the copy we have is current.
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 304 => {
                Ok(Fetched::NotModified)
            }
            Err(e) => Err(format!(
                "GetObject s3://{}/{}: {}",
                self.bucket,
                self.key,
                DisplayErrorContext(&e)
            )),
        }
    }
}

/// An S3 client as the relay uses it: path-style addressing, which works
/// for every bucket name and with local emulators alike.
pub fn client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// The account directory as it is now: the live copy in S3 when one is
/// configured (an unreadable one is an error, not a silent fallback), else
/// the static file, else the embedded sample.
pub async fn read_directory(
    settings: &Settings,
    config: &aws_config::SdkConfig,
) -> Result<Directory, String> {
    if let Some(location) = &settings.live_directory {
        let source = S3Directory::new(
            client(config),
            location.bucket.clone(),
            location.key.clone(),
        );
        let origin = format!("s3://{}/{}", location.bucket, location.key);
        return match source.fetch(None).await? {
            Fetched::Document { text, .. } => {
                Directory::from_json(&text, &origin).map_err(|e| e.to_string())
            }
            Fetched::NotModified => Err(format!("{origin}: not modified, though no copy was held")),
        };
    }
    match &settings.accounts_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            Directory::from_json(&text, path).map_err(|e| e.to_string())
        }
        None => Directory::sample().map_err(|e| e.to_string()),
    }
}

/// One object's bytes.
pub async fn get_object(
    config: &aws_config::SdkConfig,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, crate::Error> {
    let object = client(config)
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| crate::Error::of("GetObject", e))?;
    let bytes = object.body.collect().await.map_err(|e| crate::Error {
        api: "GetObject",
        code: None,
        detail: format!("reading s3://{bucket}/{key}: {e}"),
    })?;
    Ok(bytes.into_bytes().to_vec())
}

/// Writes one JSON object.
pub async fn put_json(
    config: &aws_config::SdkConfig,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<(), crate::Error> {
    client(config)
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(body.into())
        .send()
        .await
        .map_err(|e| crate::Error::of("PutObject", e).at(format!("s3://{bucket}/{key}")))?;
    Ok(())
}

/// Every key under a prefix, in S3's order (by key), every page of it.
pub async fn list_keys(
    config: &aws_config::SdkConfig,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, crate::Error> {
    Bucket::new(config, bucket).list_after(prefix, None).await
}

/// One bucket, read object by object.
#[derive(Debug, Clone)]
pub struct Bucket {
    client: aws_sdk_s3::Client,
    name: String,
}

impl Bucket {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn new(config: &aws_config::SdkConfig, name: &str) -> Bucket {
        Bucket {
            client: client(config),
            name: name.to_owned(),
        }
    }

    /// The keys under a prefix that sort after `start_after`, every page.
    pub async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<String>, crate::Error> {
        let bucket = &self.name;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                crate::Error::of("ListObjectsV2", e).at(format!("s3://{bucket}/{prefix}"))
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }

    /// One object's body as a stream: read as it arrives, never held whole.
    pub async fn open(
        &self,
        key: &str,
    ) -> Result<impl tokio::io::AsyncRead + Send + Unpin + 'static, crate::Error> {
        let object = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                crate::Error::of("GetObject", e).at(format!("s3://{}/{key}", self.name))
            })?;
        Ok(object.body.into_async_read())
    }
}
