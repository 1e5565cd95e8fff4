// The device's position, only when the user allows it. With ask (the user pressed a "my
// location" button) the browser is asked at once; without, the position is read only when
// permission was already granted, so the page never prompts by itself. found({lat, lon}) gets
// the position; failed() runs when an asked-for position cannot be had; skip() (checked when
// the permission answer arrives) lets the caller decline a position it no longer needs.
export function locate(ask, { found, failed, maximumAge, skip = () => false }) {
  if (!("geolocation" in navigator)) {
    if (ask) failed();
    return;
  }
  const go = () =>
    navigator.geolocation.getCurrentPosition(
      (position) => found({ lat: position.coords.latitude, lon: position.coords.longitude }),
      () => {
        if (ask) failed();
      },
      { timeout: 10000, maximumAge },
    );
  if (ask) {
    go();
    return;
  }
  navigator.permissions
    ?.query({ name: "geolocation" })
    .then((status) => {
      if (status.state === "granted" && !skip()) go();
    })
    .catch(() => {});
}
