"""The packaged template as one deployed stack would see it: intrinsics resolved, IAM evaluated.

`Stack` resolves Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join, Fn::Select and Fn::Split
for given parameter values, pseudo parameters and the physical names of the
resources (the names the tests gave their tables and queues in the local stand-ins).
`allows()` answers whether a policy document lets an action on a resource ARN
(Allow statements, `*` and `?` wildcards, as IAM matches them).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"
PARTITION = "aws"
_NO_VALUE = object()


@dataclass
class Stack:
    template: dict[str, Any]
    names: dict[str, str]  # logical id -> physical name (tables, queues, log groups, functions)
    parameters: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)  # queue logical id -> URL (Ref of a queue)

    def resource(self, logical_id: str) -> dict[str, Any]:
        return dict(self.template["Resources"][logical_id])

    def parameter(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        declared = self.template["Parameters"][name]
        if "Default" not in declared:
            raise KeyError(f"parameter {name} has no default: pass a value")
        return str(declared["Default"])

    def condition(self, name: str) -> bool:
        return bool(self._evaluate(self.template["Conditions"][name]))

    def _evaluate(self, expression: Any) -> Any:
        if isinstance(expression, dict) and len(expression) == 1:
            ((key, value),) = expression.items()
            if key == "Fn::Equals":
                return self.resolve(value[0]) == self.resolve(value[1])
            if key == "Fn::Not":
                return not self._evaluate(value[0])
            if key == "Fn::And":
                return all(self._evaluate(v) for v in value)
            if key == "Fn::Or":
                return any(self._evaluate(v) for v in value)
            if key == "Condition":
                return self.condition(value)
        return self.resolve(expression)

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": "deploy-test",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        kind = self.template["Resources"][name]["Type"]
        if kind == "AWS::SQS::Queue":
            return self.urls.get(name, self.names[name])
        return self.names[name]

    def get_att(self, name: str, attribute: str) -> str:
        kind = self.template["Resources"][name]["Type"]
        physical = self.names[name]
        if attribute == "Arn":
            arns = {
                "AWS::DynamoDB::Table": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{physical}",
                "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{physical}",
                "AWS::Logs::LogGroup": f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{physical}:*",
                "AWS::Serverless::Function": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{physical}",
            }
            return arns[kind]
        if attribute == "QueueName" and kind == "AWS::SQS::Queue":
            return physical
        raise KeyError(f"Fn::GetAtt {name}.{attribute} is not modelled here")

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return self.get_att(logical, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!][^}]*)\}", replace, text)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            resolved = [self.resolve(v) for v in value]
            return [v for v in resolved if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                if isinstance(argument, list):
                    return self._sub(argument[0], argument[1])
                return self._sub(argument, {})
            if key == "Fn::If":
                return self.resolve(argument[1] if self.condition(argument[0]) else argument[2])
            if key == "Fn::Join":
                return str(argument[0]).join(str(self.resolve(v)) for v in argument[1])
            if key == "Fn::Select":
                return self.resolve(argument[1])[int(self.resolve(argument[0]))]
            if key == "Fn::Split":
                return str(self.resolve(argument[1])).split(argument[0])
        return {k: self.resolve(v) for k, v in value.items() if self.resolve(v) is not _NO_VALUE}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def allows(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Whether an Allow statement of the (resolved) policy covers the action on the resource."""
    for statement in policy["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        actions = [a.lower() for a in _as_list(statement["Action"])]
        if any(_matches(a, action.lower()) for a in actions) and any(
            _matches(r, resource) for r in _as_list(statement["Resource"])
        ):
            return True
    return False


def grants(policy: dict[str, Any], sids: tuple[str, ...] | None = None) -> list[tuple[str, str, str]]:
    """Every (statement id, action, resource) an Allow statement lists."""
    listed = []
    for statement in policy["Statement"]:
        if statement.get("Effect") != "Allow" or (sids is not None and statement.get("Sid") not in sids):
            continue
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                listed.append((str(statement.get("Sid")), action, resource))
    return listed
