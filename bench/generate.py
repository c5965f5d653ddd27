#!/usr/bin/env python3
"""Generate a large manifest tree for bench/validate.sh.

Usage: generate.py OUT_DIR [--split OUT_DIR_SINGLE] [--projects N]
       generate.py OUT_DIR --org PROJECTS [--per-project A,E,G,X,M]

Writes 25 projects x (1 project + 100 attributes + 100 events + 100 audiences + 99 experiences)
= 10,000 resources into 500 multi-document files (20 per project). With --split, also writes
the same documents one per file (for validators that read one document per file). With
--projects N, N such projects instead of 25 (250: 100,000 resources in 5,000 files).

With --org (for bench/scale.sh), writes an organization instead: PROJECTS projects `org-NNN`,
each one file `org-NNN.yaml` with A attributes, E events, G audiences, X experiences and M members
(default 10,5,10,10,3; members are users of examples/emulator-users.yaml, the first the owner).
"""
import os
import sys

PROJECTS = 25
FILES_PER_PROJECT = 20


def project_docs(p):
    name = f"bench-{p:02d}"  # bench-100 and up past 99
    docs = [f"""apiVersion: pzctl/v1
kind: Project
metadata:
  name: {name}
spec:
  description: Benchmark project {p}
  members:
    - email: owner@example.com
      role: owner
    - email: dev{p}@example.com
      role: member
"""]
    for i in range(100):
        docs.append(f"""apiVersion: pzctl/v1
kind: Attribute
metadata: {{name: attr-{i}, project: {name}}}
spec: {{key: attr_{i}, description: "Attribute {i}"}}
""")
    for i in range(100):
        docs.append(f"""apiVersion: pzctl/v1
kind: Event
metadata: {{name: event_{i}, project: {name}}}
spec: {{description: "Event {i}"}}
""")
    for i in range(100):
        docs.append(f"""apiVersion: pzctl/v1
kind: Audience
metadata: {{name: audience-{i}, project: {name}}}
spec:
  description: Audience {i}
  rules:
    all:
      - attribute: attr-{i}
        condition: STRING_EQUALS
        value: gold
      - any:
          - preset: DEVICE_TYPE
            condition: STRING_EQUALS
            value: MOBILE
          - attribute: attr-{(i + 1) % 100}
            condition: HAS_ANY_VALUE
            negate: true
""")
    for i in range(99):
        if i % 2:
            docs.append(f"""apiVersion: pzctl/v1
kind: Experience
metadata: {{name: exp-{i}, project: {name}}}
spec:
  type: segmented
  description: Segmented {i}
  tags: [env:production, team:web]
  status: active
  variants:
    - name: Gold
      audiences: [audience-{i}, audience-{(i + 1) % 100}]
      match: any
    - name: Silver
      audiences: [audience-{(i + 2) % 100}]
""")
        else:
            docs.append(f"""apiVersion: pzctl/v1
kind: Experience
metadata: {{name: exp-{i}, project: {name}}}
spec:
  type: ab_test
  status: draft
  variants:
    - {{name: Control, traffic: 50}}
    - {{name: Bold, traffic: 50}}
  targeting: {{audiences: [audience-{i}], match: all}}
  metrics: [event_{i}, event_{(i + 1) % 100}]
""")
    return name, docs


MEMBERS = [("owner@example.com", "owner"), ("dev@example.com", "member"),
           ("member@example.com", "member"), ("admin@example.com", "member")]


def org_project_docs(p, attributes, events, audiences, experiences, members):
    name = f"org-{p:03d}"
    listed = "".join(f"    - {{email: {email}, role: {role}}}\n" for email, role in MEMBERS[:members])
    docs = [f"apiVersion: pzctl/v1\nkind: Project\nmetadata: {{name: {name}}}\n"
            f"spec:\n  description: Organization project {p}\n"
            + (f"  members:\n{listed}" if members else "")]
    for i in range(attributes):
        docs.append(f"apiVersion: pzctl/v1\nkind: Attribute\nmetadata: {{name: attr-{i}, project: {name}}}\n"
                    f"spec: {{key: attr_{i}}}\n")
    for i in range(events):
        docs.append(f"apiVersion: pzctl/v1\nkind: Event\nmetadata: {{name: event_{i}, project: {name}}}\n"
                    f"spec: {{}}\n")
    for i in range(audiences):
        docs.append(f"apiVersion: pzctl/v1\nkind: Audience\nmetadata: {{name: audience-{i}, project: {name}}}\n"
                    f"spec:\n  rules:\n    all:\n"
                    f"      - {{attribute: attr-{i % max(attributes, 1)}, condition: STRING_EQUALS, value: gold}}\n"
                    if attributes else
                    f"apiVersion: pzctl/v1\nkind: Audience\nmetadata: {{name: audience-{i}, project: {name}}}\n"
                    f"spec:\n  rules:\n    all:\n"
                    f"      - {{preset: DEVICE_TYPE, condition: STRING_EQUALS, value: MOBILE}}\n")
    for i in range(experiences):
        if i % 2 or not audiences:
            docs.append(f"apiVersion: pzctl/v1\nkind: Experience\nmetadata: {{name: exp-{i}, project: {name}}}\n"
                        f"spec:\n  type: ab_test\n  status: draft\n  variants:\n"
                        f"    - {{name: Control, traffic: 50}}\n    - {{name: Bold, traffic: 50}}\n")
        else:
            docs.append(f"apiVersion: pzctl/v1\nkind: Experience\nmetadata: {{name: exp-{i}, project: {name}}}\n"
                        f"spec:\n  type: segmented\n  status: active\n  variants:\n"
                        f"    - {{name: Gold, audiences: [audience-{i % audiences}]}}\n")
    return name, docs


def org(out, projects, counts):
    os.makedirs(out, exist_ok=True)
    total = 0
    for p in range(projects):
        name, docs = org_project_docs(p, *counts)
        total += len(docs)
        with open(os.path.join(out, f"{name}.yaml"), "w") as fh:
            fh.write("---\n".join(docs))
    print(f"{total} resources in {projects} files under {out}", file=sys.stderr)


def main():
    out = sys.argv[1]
    if "--org" in sys.argv:
        counts = (10, 5, 10, 10, 3)
        if "--per-project" in sys.argv:
            counts = tuple(int(n) for n in sys.argv[sys.argv.index("--per-project") + 1].split(","))
        org(out, int(sys.argv[sys.argv.index("--org") + 1]), counts)
        return
    split = sys.argv[sys.argv.index("--split") + 1] if "--split" in sys.argv else None
    projects = int(sys.argv[sys.argv.index("--projects") + 1]) if "--projects" in sys.argv else PROJECTS
    total = 0
    for p in range(projects):
        name, docs = project_docs(p)
        total += len(docs)
        per_file = -(-len(docs) // FILES_PER_PROJECT)
        os.makedirs(os.path.join(out, name), exist_ok=True)
        for f in range(FILES_PER_PROJECT):
            chunk = docs[f * per_file:(f + 1) * per_file]
            with open(os.path.join(out, name, f"part-{f:02d}.yaml"), "w") as fh:
                fh.write("---\n".join(chunk))
        if split:
            os.makedirs(os.path.join(split, name), exist_ok=True)
            for d, doc in enumerate(docs):
                with open(os.path.join(split, name, f"doc-{d:03d}.yaml"), "w") as fh:
                    fh.write(doc)
    print(f"{total} resources in {projects * FILES_PER_PROJECT} files under {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
