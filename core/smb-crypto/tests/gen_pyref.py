# Regenerates the [PYREF] values and the decrypted plaintexts used in known_answers.rs.
# Needs: pip install cryptography. Not run by the tests.
import hmac, hashlib, struct
from binascii import unhexlify as h, hexlify
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESCCM
def kdf(key, label, context, L=128):
    out=b''; i=1
    while len(out) < L//8:
        out += hmac.new(key, struct.pack('>I',i)+label+b'\x00'+context+struct.pack('>I',L), hashlib.sha256).digest(); i+=1
    return out[:L//8]
def X(b): return hexlify(b).decode().upper()
def pt_of(key,m,alg):
    tag=m[4:20]; n=m[20:36]; aad=m[20:52]; ct=m[52:]
    return (AESGCM(key).decrypt(n[:12],ct+tag,aad) if alg=='gcm' else AESCCM(key,16).decrypt(n[:11],ct+tag,aad))
vec = {
 'gcm_req': ('A2F5E80E5D59103034F32E52F698E5EC','gcm','FD534D42BD73D97D2BC9001BCAFAC0FDFF5FEEBCC7D6822D269CAF48904C664C00000000870000000000010025000000001000006ECDD2A7AFC7B47763057A041B8FD4DAFFE990B70C9E09D36C084E02D14EF247F8BDE38ACF6256F8B1D3B56F77FBDEB312FEA5E92CBCC1ED8FB2EBBFAA75E49A4A394BB44576545567C24D4C014D47C9FBDFDAFD2C4F9B72F8D256452620A299F48E29E53D6B61D1C13A19E91AF013F00D17E3ABC2FC3D36C8C1B6B93973253852DBD442E46EE8'),
 'gcm_resp': ('748C50868C90F302962A5C35F5F9A8BF','gcm','FD534D42ACBE1CB7ED343ADF1725EF144D90D4B0E06831DD2E8EB7B400000000000000005000000000000100250000000010000026BBBF949983A6C1C796559D0F2C510CB651D1F7B6AC8DED32A2A0B8F2D793A815C6F6B848D69767A215841A42D400AE6DDB5F0B44173A014973321FDD7950DA6179159B82E03C9E18A050FF0EA1C967'),
 'ccm_req': ('DFAAA31AAE40A2485D47AC4DF09FDA1D','ccm','FD534D42E89551D666DAB8993488F5A97103116C9F6F1EAAD7E9F24AACD38F00000000008700000000000100210000000010000056A74778199A9D2B6E9C3A376FD88D27680694FED253A313BEB07381AE8689F973ACDB8D716E4477803BCE53A92E1B81FA3E965AD9AF2C89C08CE66A344664453B8FC88118EDC9814CF58E92AA465E6EFB09958A9FDAD96FBD55B36A710C30D5E7C64AD7B9449F9F17EDD024FE8BA79154F340A82740D1D5180C69B0A2DE6A4BA893BD55D3210E'),
 'ccm30_req': ('261B72350558F2E9DCF613070383EDBF','ccm','FD534D4281A286535415445DAE393921E44FA42E66E69A111892584FB5ED524A744DA3EE87000000000001001100001400E4080025C8FEE16605A437832D1CD52DA9F4645333482A175FE5384563F45FCDAFAEF38BC62BA4D5C62897996625A44C29BE5658DE2E6117585779E7B59FFD971278D08580D7FA899E410E910EABF5AA1DB43050B33B49182637759AC15D84BFCDF5B6B238993C0F4CF4D6012023F6C627297075D84B7803912D0A9639634453595EF3E33FFE4E7AC2AB'),
}
pts={}
for k,(key,alg,m) in vec.items():
    m=h(m); pt=pt_of(h(key),m,alg); pts[k]=pt
    print(k, 'nonce', X(m[20:36]), 'len', len(pt)); print(X(pt))
# AES-256 key set (3.1.1), using anatomy-blog 3.1.1 session key & preauth hash
sk=h('270E1BA896585EEB7AF3472D3B4C75A7')
pa=h('0DD13628CC3ED218EF9DF9772D436D0887AB9814BFAE63A80AA845F36909DB7928622DDDAD522D9751640A459762C5A9D6BB084CBB3CE6BDADEF5D5BCE3C6C01')
c2s=kdf(sk,b'SMBC2SCipherKey\x00',pa,256); s2c=kdf(sk,b'SMBS2CCipherKey\x00',pa,256)
print('aes256 c2s', X(c2s)); print('aes256 s2c', X(s2c))
# AES-256 seal: plaintext = GCM WRITE request plaintext, session id 0x0000100000000025 (from blog)
pt=pts['gcm_req']; sid=struct.pack('<Q',0x0000100000000025)
for alg,nl in (('gcm',12),('ccm',11)):
    nonce16=bytes(range(1,nl+1))+b'\0'*(16-nl)
    hdr_tail=nonce16+struct.pack('<I',len(pt))+b'\0\0'+struct.pack('<H',1)+sid
    if alg=='gcm': out=AESGCM(s2c).encrypt(nonce16[:12],pt,hdr_tail)
    else: out=AESCCM(s2c,16).encrypt(nonce16[:11],pt,hdr_tail)
    full=b'\xfdSMB'+out[-16:]+hdr_tail+out[:-16]
    print('aes256', alg, X(full))
# GMAC for cancel / client-side variants
key=h('73FE7A9A77BEF0BDE49C650D8CCB5F76')
def gmac(msg):
    msg=bytearray(msg); msg[48:64]=b'\0'*16
    flags=struct.unpack_from('<I',msg,16)[0]; mid=struct.unpack_from('<Q',msg,24)[0]; cmd=struct.unpack_from('<H',msg,12)[0]
    hb=(flags & 1) | (2 if cmd==0x000C else 0)
    return AESGCM(key).encrypt(struct.pack('<Q',mid)+struct.pack('<I',hb),b'',bytes(msg))
# a client CANCEL request: 64-byte header + 4-byte body
cancel=bytearray(64+4); cancel[0:4]=b'\xfeSMB'; struct.pack_into('<H',cancel,4,64); struct.pack_into('<H',cancel,12,0x0C)
struct.pack_into('<I',cancel,16,0x8); struct.pack_into('<Q',cancel,24,7); struct.pack_into('<Q',cancel,40,0x0000100000000025); struct.pack_into('<H',cancel,64,4)
print('cancel msg', X(cancel)); print('cancel gmac', X(gmac(cancel)))
# HMAC-SHA256 signing of the anatomy 3.1.1 session setup response with the session key (as for 2.x)
resp=bytearray(h('FE534D4240000100000000000100800009000000000000000300000000000000FFFE0000000000001900000000100000EBE146DA120BA25FC3376A49DFE31BC10900000048001D00A11B3019A0030A0100A3120410010000003B453CDC3524164200000000'))
resp[48:64]=b'\0'*16
print('hmac sig', X(hmac.new(h('270E1BA896585EEB7AF3472D3B4C75A7'),bytes(resp),hashlib.sha256).digest()[:16]))
