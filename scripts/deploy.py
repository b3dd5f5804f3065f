#!/usr/bin/env python3
"""The steps of `make deploy`, `make deploy-guided` and `make token` that SAM CLI does not do.

overrides ARCH [SAMCONFIG]
    Prints the parameter overrides for `sam build` and `sam deploy`: the ones `sam deploy
    --guided` saved in SAMCONFIG (default samconfig.toml), with Architecture set to ARCH. SAM
    replaces, rather than merges, saved overrides with the command line's, so passing only
    Architecture would drop every saved answer.

check-build ARCH [BUILD_DIR]
    Fails unless every function binary under BUILD_DIR (default .aws-sam/build) is an ELF
    executable for ARCH, so that no binary reaches functions of the other architecture.

token-env [SAMCONFIG]
    Prints, one NAME=value a line, what `api mint-token` needs to sign a token for the deployed
    stack (KEY_SET_SECRET_ID, TOKEN_ISSUER, TOKEN_AUDIENCE, AWS_REGION), read from the outputs of
    the stack SAMCONFIG deploys. Needs boto3 (the build venv has it) and AWS credentials.
"""

import shlex
import sys
import tomllib
from pathlib import Path

# ELF e_machine values (the half-word at offset 18) of the two Lambda architectures.
ELF_MACHINES = {"x86_64": 0x3E, "arm64": 0xB7}
TOKEN_OUTPUTS = {
    "KEY_SET_SECRET_ID": "ApiKeySetSecretArn",
    "TOKEN_ISSUER": "TokenIssuer",
    "TOKEN_AUDIENCE": "TokenAudience",
}


class DeployError(Exception):
    pass


def deploy_parameters(samconfig: Path) -> dict:
    if not samconfig.exists():
        return {}
    config = tomllib.loads(samconfig.read_text())["default"]
    merged = dict(config.get("global", {}).get("parameters", {}))
    merged.update(config.get("deploy", {}).get("parameters", {}))
    return merged


def saved_overrides(samconfig: Path) -> dict:
    """The saved overrides as a dict; SAM writes them as one string of Key="value" words."""
    saved = deploy_parameters(samconfig).get("parameter_overrides", [])
    words = shlex.split(saved) if isinstance(saved, str) else saved
    pairs = (word.split("=", 1) for word in words)
    return {key: value for key, value in pairs}


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def elf_machine_of(architecture: str) -> int:
    if architecture not in ELF_MACHINES:
        raise DeployError(f"ARCH must be one of {', '.join(ELF_MACHINES)}, not {architecture!r}")
    return ELF_MACHINES[architecture]


def overrides(architecture: str, samconfig: Path) -> str:
    elf_machine_of(architecture)
    values = saved_overrides(samconfig)
    values["Architecture"] = architecture
    return " ".join(f"{key}={quoted(value)}" for key, value in values.items())


def elf_machine(binary: Path) -> int | None:
    header = binary.read_bytes()[:20]
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def check_build(architecture: str, build_dir: Path) -> list[str]:
    wanted = elf_machine_of(architecture)
    binaries = sorted(build_dir.glob("*/bootstrap"))
    if not binaries:
        raise DeployError(f"no function binary under {build_dir}: run sam build first")
    wrong = [str(b) for b in binaries if elf_machine(b) != wanted]
    if wrong:
        raise DeployError(
            f"not {architecture} binaries: {', '.join(wrong)}; "
            f"build and deploy with one ARCH (make deploy ARCH={architecture})"
        )
    return [str(b) for b in binaries]


def stack_outputs(stack: str, region: str) -> dict:
    import boto3

    client = boto3.client("cloudformation", region_name=region)
    described = client.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def token_env(samconfig: Path) -> dict:
    parameters = deploy_parameters(samconfig)
    stack, region = parameters.get("stack_name"), parameters.get("region")
    if not stack or not region:
        raise DeployError(f"{samconfig} names no stack_name and region: deploy first")
    outputs = stack_outputs(stack, region)
    missing = [key for key in TOKEN_OUTPUTS.values() if key not in outputs]
    if missing:
        raise DeployError(f"stack {stack} has no output {', '.join(missing)}: deploy this version")
    env = {name: outputs[key] for name, key in TOKEN_OUTPUTS.items()}
    env["AWS_REGION"] = region
    return env


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "overrides" and len(args) in (1, 2):
            print(overrides(args[0], Path(args[1] if len(args) == 2 else "samconfig.toml")))
        elif command == "check-build" and len(args) in (1, 2):
            build_dir = Path(args[1] if len(args) == 2 else ".aws-sam/build")
            for binary in check_build(args[0], build_dir):
                print(f"{binary}: {args[0]}")
        elif command == "token-env" and len(args) in (0, 1):
            env = token_env(Path(args[0] if args else "samconfig.toml"))
            print("\n".join(f"{name}={value}" for name, value in env.items()))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except DeployError as error:
        print(f"deploy.py {command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
