//! The live directory's source: a conditional GET of one S3 object.

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use trailrelay_shared::directory::{DirectorySource, Fetched};

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
