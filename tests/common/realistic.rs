//! The realistic OData batch of issue 27, shared by the allocation tests and the benchmarks.
#![allow(dead_code)] // not every feature set runs the tests that use it

/// `ops` operations: even ones `GET Customers('ALFKn')?$select=Name,City` with `Accept` and
/// `OData-MaxVersion`; odd ones `POST Customers` with `Content-Type`, `Accept`,
/// `Content-Length` and a 60-byte JSON body; every part `Content-Type`,
/// `Content-Transfer-Encoding` and `Content-ID`.
pub fn batch(boundary: &str, ops: usize) -> bytes::Bytes {
    let mut s = String::new();
    for i in 0..ops {
        s += &format!(
            "--{boundary}\r\nContent-Type: application/http\r\n\
             Content-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n",
            i + 1
        );
        if i % 2 == 0 {
            s += &format!(
                "GET Customers('ALFK{i}')?$select=Name,City HTTP/1.1\r\n\
                 Accept: application/json\r\nOData-MaxVersion: 4.0\r\n\r\n\r\n"
            );
        } else {
            let body =
                format!("{{\"CustomerID\":\"C{i:04}\",\"CompanyName\":\"Company {i:04} GmbH\"}}");
            let body = format!("{body:<60}");
            s += &format!(
                "POST Customers HTTP/1.1\r\nContent-Type: application/json\r\n\
                 Accept: application/json\r\nContent-Length: {}\r\n\r\n{body}\r\n",
                body.len()
            );
        }
    }
    s += &format!("--{boundary}--\r\n");
    bytes::Bytes::from(s)
}
