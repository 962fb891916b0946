"""IAM state in localcloud: roles with inline policies, the local administrator, and the
credentials each role's sessions sign with.

The account starts with the roles of infra/ml-gateway.yaml, created as CloudFormation would
(template.py) the first time IAM is used, and again when the template changes (a stack update).
Roles can also be created through the IAM API (CreateRole, PutRolePolicy).

Credentials. AWS hands a job, a Lambda function or an EventBridge target temporary credentials
of its role (sts:AssumeRole by the service). localcloud does the same without a token service:
a role's session credentials are derived from the local secret and the role ARN
(`role_credentials`), so the executor and the gateway can give them to the code they run, and
the server maps the access key back to the role it signs for. Requests signed with the
configured access key are the local administrator's (the `caller`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from typing import TYPE_CHECKING, Any

from localcloud.config import Config
from localcloud.iam import policy
from localcloud.iam.exceptions import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    MalformedPolicyDocument,
    NoSuchEntity,
    ValidationError,
)
from localcloud.iam.template import TEMPLATE, template_roles

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

ROLE = "iam-role"
STACK = "iam-stack"
ADMIN_USER = "localcloud"
# The local administrator holds AdministratorAccess (the AWS managed policy's document).
ADMINISTRATOR_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def role_credentials(secret_key: str, role_arn: str) -> tuple[str, str]:
    """(access key id, secret access key) of role_arn's sessions, as AWS's ASIA… session keys."""
    digest = hashlib.sha256(f"{secret_key}\n{role_arn}".encode()).hexdigest()[:16].upper()
    access_key = f"ASIA{digest}"
    secret = hmac.new(secret_key.encode(), access_key.encode(), hashlib.sha256).hexdigest()[:40]
    return access_key, secret


def role_environment(config: Config, role_arn: str) -> dict[str, str]:
    """AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for code that runs as role_arn."""
    key, secret = role_credentials(config.secret_key, role_arn)
    return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}


def _no_such_role(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The role with name {name} cannot be found.")


def _parse_document(text: str, what: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        raise MalformedPolicyDocument(f"{what} is not valid JSON") from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise MalformedPolicyDocument(f"{what} must be a JSON object with a Statement")
    return document


class IamBackend:
    """IAM roles, their inline policies and session credentials, reached as `cloud.iam`.

    Roles are documents (kind "iam-role") shaped like GetRole's Role plus `Policies`
    ({name: document}). Errors: NoSuchEntity, EntityAlreadyExists, MalformedPolicyDocument,
    ValidationError, InvalidInput (localcloud.iam.exceptions)."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.config = cloud.config
        self.state = cloud.state
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, str]] = {}  # access key -> (role ARN, secret)
        self._deploy_template()
        self._index_keys()

    # -- the stack ------------------------------------------------------------------------
    def _deploy_template(self) -> None:
        if not TEMPLATE.exists():
            return
        digest = hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()
        with self.state.transaction():
            deployed = self.state.get(STACK, "ml-gateway") or {}
            if deployed.get("TemplateSha256") == digest:
                return
            for name in deployed.get("Roles", []):
                self.state.delete(ROLE, name)
            adopted = deployed.get("Adopted", [])
            specs = [s for s in template_roles(self.config.account_id, self.config.region) if s.name not in adopted]
            for spec in specs:
                self._store_role(spec.name, spec.trust_policy, spec.policies, path="/")
            self.state.put(
                STACK,
                "ml-gateway",
                {"TemplateSha256": digest, "Roles": [s.name for s in specs], "Adopted": adopted},
            )

    def adopt_starting_role(self, name: str) -> bool:
        """Hand one of the starting roles (created above from the template) to a CloudFormation
        stack that declares it: True if `name` was one, and from now on it is the stack's (never
        re-created or deleted here). A stack applied from the template is what the starting roles
        stand in for, so it takes them over instead of failing as "already exists"."""
        with self._lock, self.state.transaction():
            deployed = self.state.get(STACK, "ml-gateway") or {}
            if name not in deployed.get("Roles", []):
                return False
            deployed["Roles"].remove(name)
            deployed["Adopted"] = sorted({*deployed.get("Adopted", []), name})
            self.state.put(STACK, "ml-gateway", deployed)
        return True

    def restore_starting_role(self, name: str) -> bool:
        """Give a starting role back to IAM when the stack that adopted it deleted it (its stack
        deleted or rolled back): True if `name` was adopted, and it is then re-created as the
        template defines it, so the local run keeps the roles it is given."""
        with self._lock, self.state.transaction():
            deployed = self.state.get(STACK, "ml-gateway") or {}
            if name not in deployed.get("Adopted", []):
                return False
            specs = [s for s in template_roles(self.config.account_id, self.config.region) if s.name == name]
            deployed["Adopted"].remove(name)
            for spec in specs:
                self._store_role(spec.name, spec.trust_policy, spec.policies, path="/")
                deployed["Roles"] = sorted({*deployed.get("Roles", []), spec.name})
            self.state.put(STACK, "ml-gateway", deployed)
        self._index_keys()
        return bool(specs)

    def _store_role(
        self, name: str, trust: dict[str, Any], policies: dict[str, Any], path: str = "/"
    ) -> dict[str, Any]:
        doc = {
            "RoleName": name,
            "Path": path,
            "RoleId": "AROA" + hashlib.sha256(name.encode()).hexdigest()[:17].upper(),
            "Arn": f"arn:aws:iam::{self.config.account_id}:role{path}{name}",
            "CreateDate": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "AssumeRolePolicyDocument": trust,
            "Policies": policies,
        }
        self.state.put(ROLE, name, doc)
        return doc

    def _index_keys(self) -> None:
        keys = {}
        for doc in self.state.list(ROLE):
            key, secret = role_credentials(self.config.secret_key, doc["Arn"])
            keys[key] = (doc["Arn"], secret)
        self._keys = keys

    # -- credentials ------------------------------------------------------------------------
    def credentials(self, access_key: str) -> tuple[str, str] | None:
        """(role ARN, secret) of a role session's access key; None if no role has it."""
        found = self._keys.get(access_key)
        if found is None:  # a role created since (by another process sharing the state)
            self._index_keys()
            found = self._keys.get(access_key)
        return found

    def role_environment(self, role_arn: str) -> dict[str, str]:
        """AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for code that runs as role_arn (a job, a
        Lambda function): what other services hand the code they run, as AWS does."""
        return role_environment(self.config, role_arn)

    # -- roles ----------------------------------------------------------------------------
    def get_role(self, name: str) -> dict[str, Any]:
        doc = self.state.get(ROLE, name)
        if doc is None:
            raise _no_such_role(name)
        return doc

    def create_role(self, name: str, trust_text: str, path: str = "/") -> dict[str, Any]:
        if not name:
            raise ValidationError("RoleName is required")
        trust = _parse_document(trust_text, "AssumeRolePolicyDocument")
        with self._lock, self.state.transaction():
            if self.state.get(ROLE, name) is not None:
                raise EntityAlreadyExists(f"Role with name {name} already exists.")
            doc = self._store_role(name, trust, {}, path)
        self._index_keys()
        return doc

    def update_assume_role_policy(self, name: str, trust_text: str) -> None:
        """UpdateAssumeRolePolicy: replace the role's trust policy. NoSuchEntity,
        MalformedPolicyDocument."""
        trust = _parse_document(trust_text, "PolicyDocument")
        with self._lock, self.state.transaction():
            doc = self.get_role(name)
            doc["AssumeRolePolicyDocument"] = trust
            self.state.put(ROLE, name, doc)

    def delete_role(self, name: str) -> None:
        """DeleteRole: NoSuchEntity, or DeleteConflict while the role has inline policies
        ("Cannot delete entity, must delete policies first.", IAM API Reference, DeleteRole)."""
        with self._lock, self.state.transaction():
            doc = self.get_role(name)
            if doc["Policies"]:
                raise DeleteConflict("Cannot delete entity, must delete policies first.")
            self.state.delete(ROLE, name)
        self._index_keys()

    def put_role_policy(self, role: str, policy_name: str, text: str) -> None:
        document = _parse_document(text, "PolicyDocument")
        with self._lock, self.state.transaction():
            doc = self.get_role(role)
            doc["Policies"][policy_name] = document
            self.state.put(ROLE, role, doc)

    def get_role_policy(self, role: str, policy_name: str) -> dict[str, Any]:
        policies = self.get_role(role)["Policies"]
        if policy_name not in policies:
            raise NoSuchEntity(f"The role policy with name {policy_name} cannot be found.")
        return policies[policy_name]

    def delete_role_policy(self, role: str, policy_name: str) -> None:
        with self._lock, self.state.transaction():
            doc = self.get_role(role)
            if doc["Policies"].pop(policy_name, None) is None:
                raise NoSuchEntity(f"The role policy with name {policy_name} cannot be found.")
            self.state.put(ROLE, role, doc)

    def can_assume(self, role_arn: str, service: str) -> bool:
        """Whether `service` may assume role_arn: the role exists in this account and its trust
        policy allows the service principal sts:AssumeRole, its conditions evaluated with what
        the service sends (aws:SourceAccount)."""
        prefix = f"arn:aws:iam::{self.config.account_id}:role/"
        if not role_arn.startswith(prefix):
            return False
        doc = self.state.get(ROLE, role_arn[len(prefix) :].rsplit("/", 1)[-1])
        if doc is None or doc["Arn"] != role_arn:
            return False
        context = {"aws:sourceaccount": [self.config.account_id]}
        allowed = False
        for statement in policy.as_list(doc["AssumeRolePolicyDocument"].get("Statement")):
            services = policy.as_list((statement.get("Principal") or {}).get("Service"))
            if service not in services or not policy.action_matches(
                policy.as_list(statement.get("Action")), "sts:AssumeRole"
            ):
                continue
            if not policy.conditions_hold(statement.get("Condition") or {}, context):
                continue
            if statement.get("Effect") == "Deny":
                return False
            allowed = True
        return allowed

    # -- principals -----------------------------------------------------------------------
    def policies_of(self, principal_arn: str) -> dict[str, dict[str, Any]]:
        """The identity policies of a role or of the local administrator (by ARN).
        An assumed-role session ARN stands for its role."""
        account = self.config.account_id
        if principal_arn == f"arn:aws:iam::{account}:user/{ADMIN_USER}":
            return {"AdministratorAccess": ADMINISTRATOR_ACCESS}
        prefix = f"arn:aws:iam::{account}:role/"
        session_prefix = f"arn:aws:sts::{account}:assumed-role/"
        if principal_arn.startswith(session_prefix):
            name = principal_arn[len(session_prefix) :].split("/")[0]
        elif principal_arn.startswith(prefix):
            name = principal_arn[len(prefix) :].rsplit("/", 1)[-1]
        else:
            raise InvalidInput(f"PolicySourceArn {principal_arn} is not a role or user of account {account}")
        doc = self.state.get(ROLE, name)
        if doc is None:
            raise NoSuchEntity(f"PolicySourceArn {principal_arn}: the role with name {name} cannot be found.")
        return doc["Policies"]

    def simulate(
        self,
        principal_arn: str,
        actions: list[str],
        resources: list[str],
        context: dict[str, list[str]],
        extra: list[str] | None = None,
    ) -> list[tuple[str, str, policy.Decision]]:
        """iam:SimulatePrincipalPolicy: one decision per (action, resource)."""
        if not actions:
            raise ValidationError("ActionNames must contain at least 1 member")
        policies = dict(self.policies_of(principal_arn))
        for index, text in enumerate(extra or []):
            policies[f"PolicyInputList.{index + 1}"] = _parse_document(text, "PolicyInputList")
        results = []
        for action in actions:
            for resource in resources or ["*"]:
                try:
                    decision = policy.evaluate(policies, action, resource, context)
                except policy.PolicyEvaluationError as exc:
                    raise InvalidInput(f"cannot evaluate {action}: {exc}") from None
                results.append((action, resource, decision))
        return results
