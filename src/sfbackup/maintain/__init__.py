"""Looking after a repository over time: retention (`forget`, `prune`) and uploads to S3."""
