"""The basic flow with python-socketio, an independent Socket.IO client.

Usage: basic_flow.py URL USER PASSWORD CONTAINER EXPECTED_LINES
Logs in over HTTP, connects with the session cookie, lists containers,
starts the container's logs and checks that lines 1..EXPECTED_LINES arrive
in order. Exits 0 on success, 1 with a reason otherwise.
"""
import sys
import threading

import requests
import socketio


def main() -> int:
    url, user, password, container, expected = sys.argv[1:6]
    expected = int(expected)
    http = requests.Session()
    r = http.post(f"{url}/api/login", json={"username": user, "password": password}, timeout=10)
    if r.status_code != 200:
        print(f"login failed: {r.status_code} {r.text}")
        return 1
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())

    sio = socketio.Client(reconnection=False)
    lines: list[str] = []
    done = threading.Event()

    @sio.on("container-log")
    def on_log(payload):
        if payload.get("containerName") != container:
            return
        lines.extend(l["text"] for l in payload["lines"])
        if len(lines) >= expected:
            done.set()

    sio.connect(url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10)
    listed = sio.call("list-containers", {}, timeout=10)
    names = [c["name"] for c in listed.get("containers", [])]
    if container not in names:
        print(f"container not listed: {listed}")
        return 1
    ack = sio.call("start-container-logs", {"containerName": container, "tail": 1000}, timeout=10)
    if not ack.get("ok"):
        print(f"start refused: {ack}")
        return 1
    if not done.wait(20):
        print(f"only {len(lines)} of {expected} lines arrived")
        return 1
    want = [str(i) for i in range(1, expected + 1)]
    if lines[:expected] != want:
        print(f"lines out of order or wrong: {lines[:10]}...")
        return 1
    bad = sio.call("start-container-logs", {"containerName": 5}, timeout=10)
    if bad.get("error", {}).get("code") != "invalid_payload":
        print(f"malformed payload not refused: {bad}")
        return 1
    sio.disconnect()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
