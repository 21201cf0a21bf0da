"""Python requests.Session: keep-alive, JSON decoded each time.
   python3 bench/clients/python_requests.py URL TOKEN N [CAFILE]"""
import sys
import time

import requests

url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = requests.Session()
s.headers.update({"Authorization": token, "Accept": "application/json"})
# Per call: a CA bundle named in the environment would override Session.verify.
verify = sys.argv[4] if len(sys.argv) > 4 else True
s.get(url, verify=verify).json()
t0 = time.monotonic()
for _ in range(n - 1):
    r = s.get(url, verify=verify)
    assert r.status_code == 200
    r.json()
print("%.1f" % ((time.monotonic() - t0) / (n - 1) * 1e6))
