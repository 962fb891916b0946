"""The `mlgw` command-line app and the local workflows it drives.

  cli               the parser and `main`; one module per command group in `commands/`
  target            where the app's AWS calls go: localcloud or an AWS account (session,
                    clients, bucket), chosen in this one place
  local_run         `mlgw run` on localcloud: data → upsert → start → follow → summary
  aws_run           upsert / start / follow the same pipeline on AWS
  executions        list / describe / retry a pipeline's executions on either target
  progress          the per-step progress view both print
  traffic, demo     replaying claims through the gateway; the drift → retrain demo
  monitor_schedule  the drift loop's resources: DriftCheck pipeline, schedule, alarms
  retrain           the EventBridge rule that re-runs the pipeline on drift

The app may import everything else in the project; nothing imports the app (see the import
contract in setup.cfg).
"""
