"""SageMaker processing and training jobs: CreateProcessingJob, CreateTrainingJob and their
Describe / Stop / List operations, run locally under the container contract.

  models      JobsBackend (cloud.jobs): job records, the background thread each job runs in,
              stop, waiting, orphan killing after a crash
  responses   the wire operations (OPERATIONS)
  exceptions  the AWS errors these operations answer with
  runner      what running one processing or training job does: stage inputs from S3, run the
              script in its job folder (and namespace) as the job's role, upload outputs
  container   the /opt/ml container contract, remapped to a job folder; running a script
  image       the job image: the Python the scripts run with
"""
