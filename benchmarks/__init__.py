"""Every benchmark `mlgw bench` runs, each measured against its peer in the same run:

pipeline     the local pipeline at 5,000 and 100,000 policies (vs the same work inline)
localcloud   GetRecord, bulk ingest (featurestore) and InvokeEndpoint (invoke)
gateway      the ML Gateway's routes (vs a naive single-process service)
monitor      a drift check over 1,000,000 captured records (vs json.loads per line)
"""
