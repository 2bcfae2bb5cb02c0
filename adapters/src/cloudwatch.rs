//! CloudWatch: one metric's sum over the last hours.

use crate::Error;
use aws_config::SdkConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use std::time::{Duration, SystemTime};

/// The sum of `namespace`/`metric` with one dimension over the last `hours`.
pub async fn sum_over_hours(
    config: &SdkConfig,
    namespace: &str,
    metric: &str,
    dimension: (&str, &str),
    hours: u32,
) -> Result<f64, Error> {
    let now = SystemTime::now();
    let window = Duration::from_secs(u64::from(hours) * 3600);
    let answer = aws_sdk_cloudwatch::Client::new(config)
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name(dimension.0)
                .value(dimension.1)
                .build(),
        )
        .start_time(DateTime::from(now - window))
        .end_time(DateTime::from(now))
        .period(i32::try_from(window.as_secs()).unwrap_or(i32::MAX))
        .statistics(Statistic::Sum)
        .send()
        .await
        .map_err(|e| Error::of("GetMetricStatistics", e))?;
    Ok(answer.datapoints().iter().filter_map(|d| d.sum()).sum())
}
