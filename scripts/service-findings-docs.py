# Adds the README row and man page entry of every service finding not yet there (after `npm run build`; run from the repo root).
import json, subprocess, re, sys
rows = json.loads(subprocess.check_output(['node', '--input-type=module', '-e', '''
import { FINDINGS } from './dist/core/probe/findings.js';
console.log(JSON.stringify(FINDINGS));
''']))
readme = open('README.md').read()
man = open('man/udsctl.1').read()
anchor = readme.index('| `PROBE_ERROR` |')
anchor = readme.index('\n', anchor) + 1
add = ''
for f in rows:
    if f'| `{f["code"]}` |' in readme: continue
    add += f'| `{f["code"]}` | {f["severity"]} | {f["title"]} | {f["cause"]} | {f["fix"]} |\n'
readme = readme[:anchor] + add + readme[anchor:]
def roff(t):
    t = t.replace('\\', '\\e').replace('-', '\\-')
    t = re.sub(r'`([^`]*)`', r'\\fB\1\\fP', t)
    t = re.sub(r'"([^"]*)"', r'\\(lq\1\\(rq', t)
    return t
manadd = ''
for f in rows:
    if f'.B {f["code"]}\n' in man: continue
    manadd += f'.TP\n.B {f["code"]}\n{f["severity"]}: {roff(f["title"])}.\nCause: {roff(f["cause"])}.\nFix: {roff(f["fix"])}.\n'
i = man.index('.\\" BENCH-SECTION')
man = man[:i] + manadd + man[i:]
open('README.md','w').write(readme)
open('man/udsctl.1','w').write(man)
print(add, manadd)
