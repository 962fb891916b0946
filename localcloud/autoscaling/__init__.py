"""Application Auto Scaling (JSON 1.1, target prefix AnyScaleFrontendService): the scalable
targets and scaling policies of SageMaker endpoint variants. Nothing scales locally (there are
no instances to add); what matters is the state and the refusals it causes elsewhere
(SageMaker's UpdateEndpoint refuses to remove or re-type a registered variant)."""
