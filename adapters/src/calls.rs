//! Every AWS call an adapter makes, with the IAM actions AWS authorizes it
//! by. Each function and each command that runs under a deployed role lists
//! the calls it makes from here (`AWS_CALLS`), and the flow test
//! (`tests/templates/test_iam_flows.py`) turns each into requests that an IAM
//! policy evaluator judges against the templates as CloudFormation resolves
//! them. The same test scans this crate for SDK operations, so a call added
//! to an adapter without an entry here fails `make test`.

/// One AWS API operation as an adapter calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// `service:Operation`, the service by its IAM prefix and the operation
    /// by its API name (`s3:ListObjectsV2`, not the action `s3:ListBucket`).
    pub api: &'static str,
    /// The IAM actions AWS checks for it (the service authorization
    /// reference's "Actions" table; most are the operation's own name).
    pub actions: &'static [&'static str],
}

macro_rules! calls {
    ($($name:ident = $api:literal => [$($action:literal),+];)+) => {
        $(pub const $name: Call = Call { api: $api, actions: &[$($action),+] };)+
        /// Every call of every adapter.
        pub const ALL: &[Call] = &[$($name),+];
    };
}

calls! {
    CLOUDTRAIL_DESCRIBE_TRAILS = "cloudtrail:DescribeTrails" => ["cloudtrail:DescribeTrails"];
    CLOUDTRAIL_GET_TRAIL_STATUS = "cloudtrail:GetTrailStatus" => ["cloudtrail:GetTrailStatus"];
    CLOUDTRAIL_GET_EVENT_SELECTORS = "cloudtrail:GetEventSelectors" => ["cloudtrail:GetEventSelectors"];
    CLOUDWATCH_GET_METRIC_STATISTICS = "cloudwatch:GetMetricStatistics" => ["cloudwatch:GetMetricStatistics"];
    EC2_DESCRIBE_VPC_ATTRIBUTE = "ec2:DescribeVpcAttribute" => ["ec2:DescribeVpcAttribute"];
    DYNAMODB_UPDATE_ITEM = "dynamodb:UpdateItem" => ["dynamodb:UpdateItem"];
    DYNAMODB_SCAN = "dynamodb:Scan" => ["dynamodb:Scan"];
    EVENTS_PUT_EVENTS = "events:PutEvents" => ["events:PutEvents"];
    EVENTS_DESCRIBE_EVENT_BUS = "events:DescribeEventBus" => ["events:DescribeEventBus"];
    EVENTS_DESCRIBE_RULE = "events:DescribeRule" => ["events:DescribeRule"];
    EVENTS_LIST_TARGETS_BY_RULE = "events:ListTargetsByRule" => ["events:ListTargetsByRule"];
    EVENTS_TEST_EVENT_PATTERN = "events:TestEventPattern" => ["events:TestEventPattern"];
    EVENTS_PUT_RULE = "events:PutRule" => ["events:PutRule"];
    EVENTS_PUT_TARGETS = "events:PutTargets" => ["events:PutTargets"];
    EVENTS_REMOVE_TARGETS = "events:RemoveTargets" => ["events:RemoveTargets"];
    EVENTS_DELETE_RULE = "events:DeleteRule" => ["events:DeleteRule"];
    IAM_GET_ROLE = "iam:GetRole" => ["iam:GetRole"];
    IAM_LIST_ROLE_POLICIES = "iam:ListRolePolicies" => ["iam:ListRolePolicies"];
    IAM_GET_ROLE_POLICY = "iam:GetRolePolicy" => ["iam:GetRolePolicy"];
    KMS_GET_KEY_POLICY = "kms:GetKeyPolicy" => ["kms:GetKeyPolicy"];
    LAMBDA_GET_FUNCTION_CONFIGURATION = "lambda:GetFunctionConfiguration" => ["lambda:GetFunctionConfiguration"];
    LAMBDA_INVOKE = "lambda:Invoke" => ["lambda:InvokeFunction"];
    ORGANIZATIONS_DESCRIBE_ORGANIZATION = "organizations:DescribeOrganization" => ["organizations:DescribeOrganization"];
    ORGANIZATIONS_LIST_ROOTS = "organizations:ListRoots" => ["organizations:ListRoots"];
    ORGANIZATIONS_LIST_ORGANIZATIONAL_UNITS_FOR_PARENT = "organizations:ListOrganizationalUnitsForParent" => ["organizations:ListOrganizationalUnitsForParent"];
    ORGANIZATIONS_LIST_ACCOUNTS_FOR_PARENT = "organizations:ListAccountsForParent" => ["organizations:ListAccountsForParent"];
    ORGANIZATIONS_LIST_TAGS_FOR_RESOURCE = "organizations:ListTagsForResource" => ["organizations:ListTagsForResource"];
    S3_GET_OBJECT = "s3:GetObject" => ["s3:GetObject"];
    S3_PUT_OBJECT = "s3:PutObject" => ["s3:PutObject"];
    S3_LIST_OBJECTS_V2 = "s3:ListObjectsV2" => ["s3:ListBucket"];
    SQS_GET_QUEUE_URL = "sqs:GetQueueUrl" => ["sqs:GetQueueUrl"];
    SQS_GET_QUEUE_ATTRIBUTES = "sqs:GetQueueAttributes" => ["sqs:GetQueueAttributes"];
    SQS_RECEIVE_MESSAGE = "sqs:ReceiveMessage" => ["sqs:ReceiveMessage"];
    SQS_SEND_MESSAGE_BATCH = "sqs:SendMessageBatch" => ["sqs:SendMessage"];
    SQS_CREATE_QUEUE = "sqs:CreateQueue" => ["sqs:CreateQueue"];
    SQS_SET_QUEUE_ATTRIBUTES = "sqs:SetQueueAttributes" => ["sqs:SetQueueAttributes"];
    SQS_DELETE_QUEUE = "sqs:DeleteQueue" => ["sqs:DeleteQueue"];
    STS_ASSUME_ROLE = "sts:AssumeRole" => ["sts:AssumeRole"];
}

/// The calls a function or command makes, under the role it runs as.
#[derive(Debug, Clone, Copy)]
pub struct Principal {
    /// What the flow test calls it (`enricher`, `doctor-member`, ...).
    pub name: &'static str,
    pub calls: &'static [Call],
}
