'use strict';
// webphone.js: a JsSIP phone over WebSocket (RFC 7118) with audio over WebRTC. The buttons call
// window.webphone, which the browser tests (spec/browser/) drive too: each step is recorded in
// webphone.events as { type, ... } so a test can wait for it.
//
// Query parameters: server, uri, password (fill the form), auto=1 (register at load).
(function () {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const media = { audio: true, video: false };
  const pcConfig = { iceServers: [] }; // host candidates only: no STUN server is reached

  const phone = { ua: null, session: null, events: [], state: 'not registered' };
  window.webphone = phone;

  function note(type, detail) {
    const e = Object.assign({ type, at: Date.now() }, detail || {});
    phone.events.push(e);
    const line = `${new Date(e.at).toISOString().slice(11, 23)} ${type} ${detail ? JSON.stringify(detail) : ''}`;
    $('log').textContent += line + '\n';
    $('log').scrollTop = $('log').scrollHeight;
  }
  function setState(s) {
    phone.state = s;
    $('state').textContent = s;
  }

  // The addresses of the ICE candidate pair the media flows over.
  async function notePath(pc) {
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) return;
    const addr = (id) => {
      const c = stats.get(id);
      return c ? `${c.address}:${c.port}` : '?';
    };
    note('path', { local: addr(pair.localCandidateId), remote: addr(pair.remoteCandidateId) });
  }

  function watchSession(session) {
    phone.session = session;
    const dir = session.direction; // 'outgoing' or 'incoming'
    const watchPc = (pc) => {
      pc.addEventListener('connectionstatechange', () => {
        note('pc', { state: pc.connectionState });
        if (pc.connectionState === 'connected') notePath(pc);
      });
      pc.addEventListener('track', (e) => {
        $('remote').srcObject = e.streams[0];
      });
    };
    if (session.connection) watchPc(session.connection);
    else session.on('peerconnection', (e) => watchPc(e.peerconnection));
    session.on('progress', (e) => note('progress', { code: e.response ? e.response.status_code : null }));
    session.on('accepted', () => note('accepted', { dir }));
    session.on('confirmed', () => {
      note('confirmed', { dir });
      setState('in call');
    });
    const done = (type) => (e) => {
      note(type, { originator: e.originator, cause: e.cause, code: e.message ? e.message.status_code : null });
      if (phone.session === session) phone.session = null;
      setState(phone.ua && phone.ua.isRegistered() ? 'registered' : 'not registered');
    };
    session.on('ended', done('ended'));
    session.on('failed', done('failed'));
  }

  phone.start = function (cfg) {
    if (phone.ua) phone.ua.stop();
    const socket = new JsSIP.WebSocketInterface(cfg.server);
    const ua = new JsSIP.UA({
      sockets: [socket],
      uri: cfg.uri,
      password: cfg.password,
      register: true,
      register_expires: 300,
      session_timers: false,
      user_agent: 'lua-sip webphone (JsSIP ' + JsSIP.version + ')',
    });
    phone.ua = ua;
    ua.on('connected', () => note('ws', { state: 'connected' }));
    ua.on('disconnected', () => note('ws', { state: 'disconnected' }));
    ua.on('registered', (e) => {
      note('registered', { code: e.response.status_code });
      setState('registered');
    });
    ua.on('unregistered', () => {
      note('unregistered');
      setState('not registered');
    });
    ua.on('registrationFailed', (e) => {
      note('registrationFailed', { cause: e.cause, code: e.response ? e.response.status_code : null });
      setState('registration failed: ' + e.cause);
    });
    ua.on('newRTCSession', (e) => {
      if (e.originator !== 'remote') return;
      note('incoming', { from: e.request.from.uri.toString() });
      setState('ringing: ' + e.request.from.uri.toString());
      watchSession(e.session);
    });
    ua.on('newMessage', (e) => {
      if (e.originator !== 'remote') return;
      note('message', { from: e.request.from.uri.toString(), body: e.request.body });
    });
    ua.start();
  };

  phone.call = function (target) {
    const session = phone.ua.call(target, { mediaConstraints: media, pcConfig });
    note('calling', { target });
    setState('calling ' + target);
    watchSession(session);
  };

  phone.answer = function () {
    if (!phone.session) throw new Error('webphone: no call to answer');
    phone.session.answer({ mediaConstraints: media, pcConfig });
  };

  phone.hangup = function () {
    if (phone.session) phone.session.terminate();
  };

  phone.message = function (target, text) {
    phone.ua.sendMessage(target, text, {
      eventHandlers: {
        succeeded: (e) => note('sent', { code: e.response.status_code }),
        failed: (e) => note('sendFailed', { cause: e.cause, code: e.response ? e.response.status_code : null }),
      },
    });
  };

  phone.stop = function () {
    if (phone.ua) phone.ua.stop();
  };

  const read = () => ({ server: $('server').value, uri: $('uri').value, password: $('password').value });
  $('register').onclick = () => phone.start(read());
  $('unregister').onclick = () => phone.stop();
  $('call').onclick = () => phone.call($('target').value);
  $('answer').onclick = () => phone.answer();
  $('hangup').onclick = () => phone.hangup();
  $('send').onclick = () => phone.message($('target').value, $('text').value);
  for (const k of ['server', 'uri', 'password']) if (params.has(k)) $(k).value = params.get(k);
  if (params.get('auto') === '1') phone.start(read());
})();
