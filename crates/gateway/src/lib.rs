//! IPFS HTTP gateway: /ipfs/<cid> with Range, trustless formats, uploads
